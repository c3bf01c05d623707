import { StateBadge } from "../components/StateBadge";
import { Time } from "../components/Time";
import { formatDuration } from "../orchestration/format";
import { FAMILY_COLORS, FAMILY_ORDER, type Family, familyOf } from "../orchestration/states";
import type { TaskInfo, TaskRunRow } from "./FlowRun";

type Group = { key: string; name: string; parent: TaskRunRow | undefined; children: TaskRunRow[] };

/** Task runs by task: the task's own run, and its mapped children (map_index ≥ 0) folded under it. */
function groupTaskRuns(taskRuns: TaskRunRow[], tasks: TaskInfo[]): Group[] {
  const names = new Map(tasks.map((task) => [task.id, task.name] as const));
  const groups = new Map<string, Group>();
  for (const taskRun of taskRuns) {
    const key = taskRun.task_id;
    let group = groups.get(key);
    if (!group) {
      group = { key, name: names.get(key) ?? taskRun.task_slug, parent: undefined, children: [] };
      groups.set(key, group);
    }
    if (taskRun.map_index >= 0) group.children.push(taskRun);
    else group.parent = taskRun;
  }
  for (const group of groups.values()) group.children.sort((a, b) => a.map_index - b.map_index);
  const order = new Map(tasks.map((task, index) => [task.id, index] as const));
  return [...groups.values()].sort(
    (a, b) => (order.get(a.key) ?? 1e9) - (order.get(b.key) ?? 1e9) || a.name.localeCompare(b.name),
  );
}

function counts(children: TaskRunRow[]): Array<[Family, number]> {
  const tally = new Map<Family, number>();
  for (const child of children) tally.set(familyOf(child.state), (tally.get(familyOf(child.state)) ?? 0) + 1);
  return [...FAMILY_ORDER, "other" as const]
    .filter((family) => tally.has(family))
    .map((family) => [family, tally.get(family) ?? 0]);
}

export function TaskRuns({ taskRuns, tasks }: { taskRuns: TaskRunRow[]; tasks: TaskInfo[] }) {
  if (taskRuns.length === 0) return <p className="muted">This run has no task runs yet.</p>;
  const groups = groupTaskRuns(taskRuns, tasks);
  return (
    <table className="table task-runs" data-testid="task-runs">
      <thead>
        <tr>
          <th>Task</th>
          <th>State</th>
          <th>Started</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody>
        {groups.map((group) => {
          const main = group.parent ?? group.children[0];
          return (
            <tr key={group.key} data-task={group.name}>
              <td>
                <strong>{group.name}</strong>
                {group.children.length > 0 && (
                  <details className="mapped">
                    <summary>
                      {group.children.length} mapped runs:{" "}
                      {counts(group.children).map(([family, count]) => (
                        <span key={family} className="count" style={{ color: FAMILY_COLORS[family] }}>
                          {count} {family}{" "}
                        </span>
                      ))}
                    </summary>
                    <ul>
                      {group.children.map((child) => (
                        <li key={child.id} data-map-index={child.map_index}>
                          <span className="muted">[{child.map_index}]</span> {child.name ?? group.name}{" "}
                          <StateBadge state={child.state} title={child.state_message} />{" "}
                          <span className="muted small">
                            {formatDuration(child.start_time, child.end_time)}
                          </span>
                        </li>
                      ))}
                    </ul>
                  </details>
                )}
              </td>
              <td>{main && <StateBadge state={main.state} title={main.state_message} />}</td>
              <td>
                <Time iso={main?.start_time} />
              </td>
              <td>{formatDuration(main?.start_time, main?.end_time)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
