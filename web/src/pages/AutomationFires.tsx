import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import {
  ACTION_LABELS,
  type ActionType,
  type AutomationFire,
  FIRE_LIMIT,
  FIRES,
} from "../orchestration/automations";

/** An automation's most recent firings, newest first; refreshed while shown. */
export function AutomationFires({
  automationId,
  automationName,
  id,
}: {
  automationId: string;
  automationName: string;
  id: string;
}) {
  const fires = useQuery<{ automation_fire: AutomationFire[] }>(
    FIRES,
    { id: automationId, limit: FIRE_LIMIT },
    { pollMs: 5_000 },
  );

  return (
    <section id={id} className="deliveries" aria-label={`Firings of ${automationName}`}>
      <Async state={fires}>
        {(data) =>
          data.automation_fire.length === 0 ? (
            <Empty title="No firings yet">
              <p>The scheduler checks automations every minute; each fires once per run or agent silence.</p>
            </Empty>
          ) : (
            <div className="table-scroll">
              <table className="table deliveries-table fires-table">
                <caption className="muted small">
                  The {Math.min(data.automation_fire.length, FIRE_LIMIT)} most recent firings
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Action</th>
                    <th scope="col">Status</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {data.automation_fire.map((fire) => (
                    <FireRow key={fire.id} fire={fire} />
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Async>
    </section>
  );
}

function FireRow({ fire }: { fire: AutomationFire }) {
  return (
    <tr data-fire-id={fire.id} data-status={fire.status}>
      <td>
        <Time iso={fire.created} />
      </td>
      <td className="fire-reason">
        {fire.reason}
        {fire.flow_run_id && (
          <div className="small">
            <Link to={`/runs/${fire.flow_run_id}`}>View run</Link>
          </div>
        )}
      </td>
      <td>{ACTION_LABELS[fire.action as ActionType] ?? fire.action}</td>
      <td>
        <span className={`badge ${fire.status.toLowerCase()}`}>{fire.status.toLowerCase()}</span>
      </td>
      <td className="delivery-error">{fire.error ?? <span className="muted">—</span>}</td>
    </tr>
  );
}
