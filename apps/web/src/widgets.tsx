/** A table's header row. */
export const Head = ({ columns }: { columns: string[] }) => (
  <thead>
    <tr>
      {columns.map((column) => (
        <th key={column}>{column}</th>
      ))}
    </tr>
  </thead>
);

/** A labelled select; `all` adds an empty first option that means "no filter". */
export function Choice<T extends string>(props: {
  label: string;
  name: string;
  value: T | '';
  options: readonly T[];
  all?: boolean;
  onChange: (value: T) => void;
}) {
  return (
    <label>
      {props.label}
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value as T)}>
        {props.all && <option value="">all</option>}
        {props.options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Toggle({ label, checked, onChange, name }: { label: string; checked: boolean; onChange: (value: boolean) => void; name: string }) {
  return (
    <label class="toggle">
      <input type="checkbox" name={name} checked={checked} onChange={(e) => onChange(e.currentTarget.checked)} />
      {label}
    </label>
  );
}
