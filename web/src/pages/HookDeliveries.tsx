import { useEffect } from "react";
import { StateBadge } from "../components/StateBadge";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { DELIVERIES, DELIVERY_LIMIT, type Delivery } from "../orchestration/cloud-hooks";

/** A hook's most recent deliveries, newest first, each with its attempts; refreshed while shown. */
export function HookDeliveries({
  hookId,
  hookName,
  id,
  refresh,
}: {
  hookId: string;
  hookName: string;
  id: string;
  /** Changes when the page knows of a new delivery (a test was sent): read again now. */
  refresh: number;
}) {
  const deliveries = useQuery<{ cloud_hook_delivery: Delivery[] }>(
    DELIVERIES,
    { id: hookId, limit: DELIVERY_LIMIT },
    { pollMs: 5_000 },
  );
  const { reload } = deliveries;
  useEffect(() => {
    if (refresh > 0) reload();
  }, [refresh, reload]);

  return (
    <section id={id} className="deliveries" aria-label={`Deliveries of ${hookName}`}>
      <Async state={deliveries}>
        {(data) =>
          data.cloud_hook_delivery.length === 0 ? (
            <Empty title="No deliveries yet">
              <p>Send a test, or wait for a flow run to enter one of the hook's states.</p>
            </Empty>
          ) : (
            <div className="table-scroll">
              <table className="table deliveries-table">
                <caption className="muted small">
                  The {Math.min(data.cloud_hook_delivery.length, DELIVERY_LIMIT)} most recent deliveries
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">State</th>
                    <th scope="col">Status</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Response</th>
                    <th scope="col">Latency</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {data.cloud_hook_delivery.map((delivery) => (
                    <DeliveryRow key={delivery.id} delivery={delivery} />
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

function DeliveryRow({ delivery }: { delivery: Delivery }) {
  const log = delivery.attempt_log ?? [];
  return (
    <tr data-delivery-id={delivery.id} data-status={delivery.status}>
      <td>
        <Time iso={delivery.event_timestamp} />
      </td>
      <td>
        <StateBadge state={delivery.state} />
        {delivery.is_test_event && <span className="tag">test</span>}
        {delivery.flow_run_id && !delivery.is_test_event && (
          <div className="small">
            <Link to={`/runs/${delivery.flow_run_id}`}>run</Link>
          </div>
        )}
      </td>
      <td>
        <span className={`badge ${delivery.status.toLowerCase()}`}>{delivery.status.toLowerCase()}</span>
      </td>
      <td>
        {log.length === 0 ? (
          delivery.attempts
        ) : (
          <details className="attempts">
            <summary>
              {delivery.attempts}
              <span className="visually-hidden"> attempts: show the log</span>
            </summary>
            <ol className="attempt-log">
              {log.map((attempt, index) => (
                // The log is append-only: an attempt's place is its identity.
                // biome-ignore lint/suspicious/noArrayIndexKey: see above.
                <li key={index}>
                  <Time iso={attempt.at} /> ·{" "}
                  {attempt.status_code === null ? "no answer" : `HTTP ${attempt.status_code}`} ·{" "}
                  {attempt.latency_ms} ms
                  {attempt.error && <div className="status error small">{attempt.error}</div>}
                </li>
              ))}
            </ol>
          </details>
        )}
      </td>
      <td>{delivery.response_code ?? <span className="muted">—</span>}</td>
      <td>{delivery.latency_ms === null ? <span className="muted">—</span> : `${delivery.latency_ms} ms`}</td>
      <td className="delivery-error">{delivery.error ?? <span className="muted">—</span>}</td>
    </tr>
  );
}
