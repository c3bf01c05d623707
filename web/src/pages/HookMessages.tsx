import { useEffect, useState } from "react";
import { StateBadge } from "../components/StateBadge";
import { Async } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { type HookMessage, hookMutations, MESSAGE_LIMIT, MESSAGES } from "../orchestration/cloud-hooks";

/** What PREFECT_MESSAGE hooks left for the workspace, newest first, each to mark as read. */
export function HookMessages({
  refresh,
}: {
  /** Changes when a message may have arrived (a test of a message hook): read again now. */
  refresh: number;
}) {
  const messages = useQuery<{ message: HookMessage[] }>(
    MESSAGES,
    { limit: MESSAGE_LIMIT },
    { pollMs: 15_000 },
  );
  const { reload } = messages;
  useEffect(() => {
    if (refresh > 0) reload();
  }, [refresh, reload]);
  const unread = messages.data?.message.filter((message) => !message.read).length ?? 0;

  return (
    <section className="card messages" aria-labelledby="messages-title">
      <h2 id="messages-title">
        Messages{" "}
        {unread > 0 && (
          <span className="badge unread" data-testid="unread-count">
            {unread} unread
          </span>
        )}
      </h2>
      <Async state={messages}>
        {(data) =>
          data.message.length === 0 ? (
            <p className="muted">
              No messages. A <strong>Dashboard message</strong> hook leaves one here each time it fires.
            </p>
          ) : (
            <ul className="message-list">
              {data.message.map((message) => (
                <MessageItem key={message.id} message={message} changed={messages.reload} />
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}

function MessageItem({ message, changed }: { message: HookMessage; changed: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const event = message.content?.event;
  const runId = event?.flow_run?.id;
  const runName = event?.flow_run?.name ?? "a run";

  const markRead = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await hookMutations.markRead(message.id);
      changed();
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className={message.read ? "message read" : "message unread"} data-message-id={message.id}>
      <div className="message-body">
        <span>
          {runId && !event?.is_test_event ? <Link to={`/runs/${runId}`}>{runName}</Link> : runName}
          {event?.flow?.name ? ` of ${event.flow.name}` : ""} entered{" "}
        </span>
        <StateBadge state={event?.state?.state} />
        {event?.is_test_event && <span className="tag">test</span>}
        {event?.state?.message && <div className="muted small">{event.state.message}</div>}
        <div className="muted small">
          <Time iso={message.created} relative />
        </div>
      </div>
      {message.read ? (
        <span className="muted small">read</span>
      ) : (
        <button type="button" onClick={markRead} disabled={busy}>
          {busy ? "Marking…" : "Mark as read"}
        </button>
      )}
      {error && (
        <p className="status error small" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}
