/** The API version reported by `api { version }`. */
export const API_VERSION = "0.1.0";
