// @sente-rx/packers: Sente's wire formats (EDN, Transit) and msgpack, out of the default bundle.
// Each is also a subpath export (`@sente-rx/packers/edn`, `/transit`, `/msgpack`), so an app
// bundles only the one it uses.

export { ednPacker, readEdn, writeEdn } from './edn.js';
export { transitPacker } from './transit.js';
export { msgpackPacker } from './msgpack.js';
export { isKeywordName, Uuid } from './shape.js';
