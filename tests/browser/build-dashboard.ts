import { ensureDashboardBuilt } from "../../web/scripts/build.js";

/** globalSetup of the browser tier: builds web/dist once when it is missing or older than its sources. */
export default async function setup() {
  await ensureDashboardBuilt((message) => console.log(message));
}
