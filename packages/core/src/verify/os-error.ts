/** The OS error text helper lives in the error catalogue; re-exported for the verify modules. */
export { osErrorText } from '../errors.js';
