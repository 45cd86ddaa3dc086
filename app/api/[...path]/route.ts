// The API mounted inside Next.js, for deployments that cannot run Statehouse's own server
// (server/main.ts answers /api/* itself and never reaches this file). Same handlers, same answers.
import { getApi } from "../../../server/next-entry";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

async function handle(request: Request): Promise<Response> {
  return (await getApi()).fetch(request);
}

export {
  handle as GET,
  handle as POST,
  handle as PUT,
  handle as PATCH,
  handle as DELETE,
  handle as HEAD,
  handle as OPTIONS,
};
