// Errors the app can act on. A refused write carries the rule's reason code (the same code the server
// would give in `rejected(reason)`), shown to the engineer through the catalogs as `reason.<code>`.
//
//   EngineError
//    ├── WriteRefused      a local write broke a rule; nothing was stored
//    ├── NotEnrolled       enroll first
//    └── EnrollmentFailed  the server refused the token (code from its problem document) or was unreachable

export class EngineError extends Error {}

export class WriteRefused extends EngineError {
  /** @param {string} code @param {Record<string, string | number>} [params] */
  constructor(code, params = {}) {
    super(`${code}${Object.keys(params).length ? ` ${JSON.stringify(params)}` : ""}`);
    this.code = code;
    this.params = params;
  }
}

export class NotEnrolled extends EngineError {}

export class EnrollmentFailed extends EngineError {
  /** @param {string} code @param {string} [detail] */
  constructor(code, detail = "") {
    super(`${code}: ${detail}`);
    this.code = code;
    this.detail = detail;
  }
}
