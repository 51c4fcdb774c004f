/**
 * Text for XML and HTML (SVG text, attribute values, titles): the five markup characters as entities, and every
 * character XML 1.0 forbids (C0 controls but tab, newline and carriage return; U+FFFE/U+FFFF; unpaired
 * surrogates) replaced by U+FFFD, so a label holding anything still gives a well-formed document.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
