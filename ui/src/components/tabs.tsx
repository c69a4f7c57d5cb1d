import type { JSX } from 'react';
import { href } from '../router.js';

export type DeploymentTab = 'overview' | 'monitor' | 'playground';

const TABS: { tab: DeploymentTab; label: string; suffix: string[] }[] = [
  { tab: 'overview', label: 'Overview', suffix: [] },
  { tab: 'monitor', label: 'Monitoring', suffix: ['monitor'] },
  { tab: 'playground', label: 'Playground', suffix: ['playground'] },
];

/** The sub-pages of one deployment, as links (each is its own address, so it can be shared). */
export function DeploymentTabs({ name, current }: { name: string; current: DeploymentTab }): JSX.Element {
  return (
    <nav className="tabs" aria-label={`${name} pages`}>
      <ul>
        {TABS.map((t) => (
          <li key={t.tab}>
            <a href={href('deployments', name, ...t.suffix)} aria-current={t.tab === current ? 'page' : undefined}>
              {t.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
