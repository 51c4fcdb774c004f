export { createApp, type ApiApp, type ApiConfig } from './app';
export { bearerAuth, Caller, keyIdOf, type Principal } from './auth';
export { apiSettingsFromEnv, listenAddressFromEnv, DEFAULT_SETTINGS, type ApiSettings } from './config';
export { toErrorBody, type ErrorBody } from './errors';
export { CSP, securityHeaders } from './security';
