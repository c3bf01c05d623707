import type { ReactNode } from "react";

/**
 * A small Markdown subset (what Prefect tasks publish as markdown artifacts: headings, paragraphs,
 * lists, code, tables, quotes, emphasis, links) rendered as React elements only: every character
 * of the source ends up as text, never as HTML, so raw HTML in an artifact shows as written.
 * Links keep only http(s) and relative targets (`safeHref`).
 */

/** `raw` as an href when it is an http(s) URL or a relative one; undefined for any other scheme. */
export function safeHref(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  const value = raw.trim();
  // Browsers drop tabs and newlines inside URLs ("java\tscript:"): refuse every control character.
  if (value === "" || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value);
  if (scheme) return /^https?$/i.test(scheme[1] ?? "") ? value : undefined;
  // Protocol-relative ("//host", "/\host"): another site without saying which scheme; refused.
  if (/^[/\\]{2}/.test(value)) return undefined;
  return value;
}

/** Whether an href leaves the dashboard (opened in a new tab). */
export function isExternal(href: string): boolean {
  return /^https?:/i.test(href);
}

type Block =
  | { type: "heading"; level: number; text: string }
  | { type: "paragraph"; text: string }
  | { type: "list"; ordered: boolean; items: string[] }
  | { type: "code"; text: string }
  | { type: "table"; head: string[]; rows: string[][] }
  | { type: "quote"; text: string }
  | { type: "rule" };

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const RULE = /^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/;
const ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_SEPARATOR = /^\s*\|(?:\s*:?-+:?\s*\|)+\s*$/;

function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, "")
    .split("|")
    .map((cell) => cell.trim());
}

function startsBlock(line: string, next: string | undefined): boolean {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    ITEM.test(line) ||
    QUOTE.test(line) ||
    (TABLE_ROW.test(line) && next !== undefined && TABLE_SEPARATOR.test(next))
  );
}

export function parseBlocks(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let i = 0;
  const at = (index: number) => lines[index] ?? "";
  while (i < lines.length) {
    const line = at(i);
    if (line.trim() === "") {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      for (
        i++;
        i < lines.length &&
        !at(i)
          .trimStart()
          .startsWith(fence[1] ?? "```");
        i++
      )
        body.push(at(i));
      i++;
      blocks.push({ type: "code", text: body.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ type: "heading", level: heading[1]?.length ?? 1, text: heading[2] ?? "" });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ type: "rule" });
      i++;
      continue;
    }
    if (TABLE_ROW.test(line) && TABLE_SEPARATOR.test(at(i + 1))) {
      const head = cells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && TABLE_ROW.test(at(i)); i++) rows.push(cells(at(i)));
      blocks.push({ type: "table", head, rows });
      continue;
    }
    const item = ITEM.exec(line);
    if (item) {
      const ordered = /\d/.test(item[1] ?? "");
      const items: string[] = [];
      while (i < lines.length) {
        const current = ITEM.exec(at(i));
        if (current && /\d/.test(current[1] ?? "") === ordered) {
          items.push(current[2] ?? "");
          i++;
        } else if (items.length > 0 && /^\s{2,}\S/.test(at(i)) && !ITEM.test(at(i))) {
          items[items.length - 1] += ` ${at(i).trim()}`;
          i++;
        } else break;
      }
      blocks.push({ type: "list", ordered, items });
      continue;
    }
    if (QUOTE.test(line)) {
      const body: string[] = [];
      for (; i < lines.length && QUOTE.test(at(i)); i++) body.push(QUOTE.exec(at(i))?.[1] ?? "");
      blocks.push({ type: "quote", text: body.join("\n") });
      continue;
    }
    const body: string[] = [line];
    for (i++; i < lines.length && at(i).trim() !== "" && !startsBlock(at(i), lines[i + 1]); i++)
      body.push(at(i));
    blocks.push({ type: "paragraph", text: body.join("\n") });
  }
  return blocks;
}

// Code spans, links, autolinks, strong, emphasis: the first that starts earliest wins. Each stays
// within a line and 1,000 characters, so no input makes matching slow (no unbounded rescans).
const INLINE =
  /(`+)([^\n]{1,1000}?)\1|\[([^\]\n]{1,1000})\]\(\s*([^)\s]{1,2000})(?:\s+"[^"\n]{0,500}")?\s*\)|<(https?:\/\/[^>\s]{1,2000})>|\*\*([^\n]{1,1000}?)\*\*|(?<![\p{L}\p{N}])__([^\n]{1,1000}?)__(?![\p{L}\p{N}])|(?<!\*)\*([^*\s](?:[^*\n]{0,1000}[^*\s])?)\*(?!\*)|(?<![\p{L}\p{N}_])_([^_\s](?:[^_\n]{0,1000}[^_\s])?)_(?![\p{L}\p{N}_])/gu;

/** Deeper emphasis is shown as text: nesting is bounded whatever the input. */
const MAX_INLINE_DEPTH = 6;

function Anchor({ href, children }: { href: string | undefined; children: ReactNode }) {
  if (!href) return <span className="unsafe-link">{children}</span>;
  return isExternal(href) ? (
    <a href={href} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  ) : (
    <a href={href}>{children}</a>
  );
}

export function renderInline(text: string, depth = 0): ReactNode[] {
  if (depth >= MAX_INLINE_DEPTH) return [text];
  const out: ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const start = match.index ?? 0;
    if (start > last) out.push(text.slice(last, start));
    const key = `${depth}-${start}`;
    const [whole, , code, label, target, autolink, strong, strong2, em, em2] = match;
    if (code !== undefined) out.push(<code key={key}>{code}</code>);
    else if (label !== undefined)
      out.push(
        <Anchor key={key} href={safeHref(target)}>
          {renderInline(label, depth + 1)}
        </Anchor>,
      );
    else if (autolink !== undefined)
      out.push(
        <Anchor key={key} href={safeHref(autolink)}>
          {autolink}
        </Anchor>,
      );
    else if ((strong ?? strong2) !== undefined)
      out.push(<strong key={key}>{renderInline(strong ?? strong2 ?? "", depth + 1)}</strong>);
    else if ((em ?? em2) !== undefined)
      out.push(<em key={key}>{renderInline(em ?? em2 ?? "", depth + 1)}</em>);
    else out.push(whole);
    last = start + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function Heading({ level, children }: { level: number; children: ReactNode }) {
  // Inside a card under the page's h1 and the section's h2: artifact headings start at h3.
  const shown = Math.min(6, level + 2);
  if (shown === 3) return <h3>{children}</h3>;
  if (shown === 4) return <h4>{children}</h4>;
  if (shown === 5) return <h5>{children}</h5>;
  return <h6>{children}</h6>;
}

export function Markdown({ source }: { source: string }) {
  return (
    <div className="markdown">
      {parseBlocks(source).map((block, index) => {
        const key = `${block.type}-${index}`;
        switch (block.type) {
          case "heading":
            return (
              <Heading key={key} level={block.level}>
                {renderInline(block.text)}
              </Heading>
            );
          case "paragraph":
            return <p key={key}>{renderInline(block.text)}</p>;
          case "code":
            return (
              <pre key={key}>
                <code>{block.text}</code>
              </pre>
            );
          case "quote":
            return <blockquote key={key}>{renderInline(block.text)}</blockquote>;
          case "rule":
            return <hr key={key} />;
          case "list": {
            const items = block.items.map((item, n) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: items have no identity but their place.
              <li key={n}>{renderInline(item)}</li>
            ));
            return block.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
          }
          case "table":
            return (
              <div key={key} className="markdown-table">
                <table className="table">
                  <thead>
                    <tr>
                      {block.head.map((cell, n) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: columns are their place.
                        <th key={n}>{renderInline(cell)}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {block.rows.map((row, r) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: rows are their place.
                      <tr key={r}>
                        {row.map((cell, n) => (
                          // biome-ignore lint/suspicious/noArrayIndexKey: columns are their place.
                          <td key={n}>{renderInline(cell)}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
        }
        return null;
      })}
    </div>
  );
}
