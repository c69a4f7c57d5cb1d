import type { JSX, KeyboardEvent, ReactNode } from 'react';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import './virtual-list.css';

/**
 * A scrolling list that renders only the items in view (plus a margin), so ten thousand rows cost
 * as much as thirty. Each item has an estimated height; items whose real height differs (an
 * expanded row) are measured and the offsets follow. Keyboard: one item is in the tab order (a
 * roving tab stop); ↑ ↓ Home End PageUp PageDown move between the focusable items.
 *
 * @example
 * <VirtualList items={rows} itemKey={(r) => r.id} estimate={() => 44} focusable={() => true}
 *   label="audit entries" render={(r, i, tab) => <button tabIndex={tab ? 0 : -1}>{r.title}</button>} />
 */
export interface VirtualListProps<T> {
  items: readonly T[];
  itemKey(item: T): string;
  /** the height an item takes (px); measured when it renders differently */
  estimate(item: T): number;
  /** whether arrow keys stop on this item (a group header does not) */
  focusable(item: T): boolean;
  /** `tabbable`: the item holding the list's tab stop renders its control with tabIndex 0, the rest -1 */
  render(item: T, index: number, tabbable: boolean): ReactNode;
  label: string;
  /** extra pixels rendered above and below the view */
  overscan?: number;
  className?: string;
  testId?: string;
}

export function VirtualList<T>({ items, itemKey, estimate, focusable, render, label, overscan = 400, className, testId }: VirtualListProps<T>): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  const [measured, setMeasured] = useState<ReadonlyMap<string, number>>(() => new Map());
  const [active, setActive] = useState(0);
  const pendingFocus = useRef<number | null>(null);

  // prefix sums of the heights: offsets[i] is where item i starts
  const offsets = useMemo(() => {
    const out = new Float64Array(items.length + 1);
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      out[i + 1] = out[i]! + (measured.get(itemKey(it)) ?? estimate(it));
    }
    return out;
  }, [items, measured, itemKey, estimate]);
  const total = offsets[items.length] ?? 0;

  const first = Math.max(0, indexAt(offsets, scrollTop - overscan));
  const last = Math.min(items.length - 1, indexAt(offsets, scrollTop + viewHeight + overscan));
  const tabStop = clampFocusable(items, focusable, Math.min(active, items.length - 1));

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    setViewHeight(el.clientHeight);
    const ro = new ResizeObserver(() => setViewHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // a new list (filters changed): back to its top
  useEffect(() => {
    if (box.current) box.current.scrollTop = 0;
    setScrollTop(0);
    setActive(0);
  }, [items]);

  // measure what rendered; only heights that differ from the estimate are kept
  const observer = useMemo(() => {
    if (typeof ResizeObserver === 'undefined') return null;
    return new ResizeObserver((entries) => {
      setMeasured((prev) => {
        let next: Map<string, number> | null = null;
        for (const e of entries) {
          const el = e.target as HTMLElement;
          const key = el.dataset['vkey'];
          const est = Number(el.dataset['vestimate']);
          const h = Math.round(el.offsetHeight);
          if (key === undefined || h === 0) continue; // detached
          const had = prev.get(key);
          if (h === est ? had === undefined : had === h) continue;
          next ??= new Map(prev);
          if (h === est) next.delete(key);
          else next.set(key, h);
        }
        return next ?? prev;
      });
    });
  }, []);
  useEffect(() => () => observer?.disconnect(), [observer]);

  const scrollToIndex = (i: number): void => {
    const el = box.current;
    if (!el) return;
    const top = offsets[i] ?? 0;
    const bottom = offsets[i + 1] ?? top;
    let next = el.scrollTop;
    if (top < next) next = top;
    else if (bottom > next + el.clientHeight) next = bottom - el.clientHeight;
    if (next !== el.scrollTop) {
      el.scrollTop = next;
      setScrollTop(el.scrollTop);
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>): void => {
    const holder = (e.target as HTMLElement).closest<HTMLElement>('[data-vindex]');
    // keys typed into a field inside an expanded item stay there
    if (!holder || (e.target as HTMLElement).matches('input, textarea, select')) return;
    const from = Number(holder.dataset['vindex']);
    const page = Math.max(1, Math.floor(viewHeight / Math.max(1, estimate(items[from]!))));
    const to =
      e.key === 'ArrowDown' ? step(items, focusable, from, 1, 1)
      : e.key === 'ArrowUp' ? step(items, focusable, from, -1, 1)
      : e.key === 'PageDown' ? step(items, focusable, from, 1, page)
      : e.key === 'PageUp' ? step(items, focusable, from, -1, page)
      : e.key === 'Home' ? step(items, focusable, -1, 1, 1)
      : e.key === 'End' ? step(items, focusable, items.length, -1, 1)
      : null;
    if (to === null) return;
    e.preventDefault();
    setActive(to);
    pendingFocus.current = to;
    scrollToIndex(to);
  };

  // focus the item the keys moved to once it has rendered
  useLayoutEffect(() => {
    const i = pendingFocus.current;
    if (i === null) return;
    const target = box.current?.querySelector<HTMLElement>(`[data-vindex="${i}"] button, [data-vindex="${i}"] a`);
    if (target) {
      pendingFocus.current = null;
      target.focus({ preventScroll: true });
    }
  });

  const shown: ReactNode[] = [];
  for (let i = first; i <= last; i++) {
    const it = items[i]!;
    const key = itemKey(it);
    const est = estimate(it);
    shown.push(
      <Item key={key} vkey={key} index={i} size={items.length} estimate={est} offset={offsets[i]!} observer={observer} onFocus={setActive}>
        {render(it, i, i === tabStop)}
      </Item>,
    );
  }
  return (
    <div
      ref={box}
      className={className ? `vlist ${className}` : 'vlist'}
      data-testid={testId}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div role="list" aria-label={label} className="vlist-space" style={{ height: `${total}px` }}>
        {shown}
      </div>
    </div>
  );
}

/** One positioned item, observed for its height while it is in the DOM. */
function Item({ vkey, index, size, estimate, offset, observer, onFocus, children }: { vkey: string; index: number; size: number; estimate: number; offset: number; observer: ResizeObserver | null; onFocus(i: number): void; children: ReactNode }): JSX.Element {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = el.current;
    if (!node || !observer) return;
    observer.observe(node);
    return () => observer.unobserve(node);
  }, [observer]);
  return (
    <div
      ref={el}
      data-vindex={index}
      data-vkey={vkey}
      data-vestimate={estimate}
      role="listitem"
      aria-setsize={size}
      aria-posinset={index + 1}
      className="vlist-item"
      style={{ transform: `translateY(${offset}px)` }}
      onFocus={() => onFocus(index)}
    >
      {children}
    </div>
  );
}

/** The item covering pixel `y` (binary search over the offsets). */
function indexAt(offsets: Float64Array, y: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid]! <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** `count` focusable items on from `from` in direction `dir` (stopping at the last one there is). */
function step<T>(items: readonly T[], focusable: (t: T) => boolean, from: number, dir: 1 | -1, count: number): number {
  let at = from;
  let best = from >= 0 && from < items.length ? from : null;
  for (let moved = 0, i = from + dir; i >= 0 && i < items.length && moved < count; i += dir) {
    if (focusable(items[i]!)) {
      best = i;
      at = i;
      moved++;
    }
  }
  return best ?? Math.max(0, Math.min(items.length - 1, at));
}

function clampFocusable<T>(items: readonly T[], focusable: (t: T) => boolean, i: number): number {
  if (i < 0) return -1;
  if (items[i] !== undefined && focusable(items[i]!)) return i;
  return step(items, focusable, i, 1, 1);
}
