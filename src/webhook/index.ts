export {
  type AddressKind,
  AddressGuard,
  AddressGuardOptionError,
  type AddressGuardOptions,
  type AddressRefusedCode,
  AddressRefusedError,
  classifyAddress,
  type ResolveFunction,
} from './address-guard.js';
export { parseRetryAfter } from './retry-after.js';
export {
  type SendRequest,
  type SendResponse,
  type SendResult,
  type SendTimeouts,
  classifySendError,
  SenderClosedError,
  WebhookSender,
  type WebhookSenderOptions,
} from './send.js';
export {
  generateSecret,
  type HeaderSource,
  type SignInput,
  signWebhook,
  type VerifyOptions,
  verifyWebhook,
  type WebhookHeaders,
  type WebhookSecret,
  WebhookSecretError,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from './sign.js';
