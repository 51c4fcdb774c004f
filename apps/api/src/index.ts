export { createApp, type ApiApp, type ApiConfig } from './app';
export { apiSettingsFromEnv, portFromEnv, DEFAULT_SETTINGS, type ApiSettings } from './config';
export { toErrorBody, type ErrorBody } from './errors';
