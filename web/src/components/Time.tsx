import { formatDateTime, formatRelative } from "../lib/time";

/** A timestamp in the viewer's zone, with its relative form on hover. */
export function Time({ iso, relative = false }: { iso: string | null | undefined; relative?: boolean }) {
  if (!iso) return <span className="muted">—</span>;
  const absolute = formatDateTime(iso);
  return (
    <time dateTime={iso} title={relative ? absolute : formatRelative(iso)}>
      {relative ? formatRelative(iso) : absolute}
    </time>
  );
}
