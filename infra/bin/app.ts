import { createDroverApp } from "../lib/app.js";

// `npm run synth|deploy|destroy` (stage: `-- -c stage=prod` or DROVER_STAGE, default dev).
createDroverApp().app.synth();
