// Entry point: reads the node list and the chain anchor the portal server hands out
// (`/config.json`: `phr portal --nodes`, and what it verifies from), then renders the app.
// Nothing here reports anywhere: no analytics, no remote logs.
import { h, render } from 'preact';
import { App } from './app';
import type { NodeInfo } from './chain';
import type { Anchor, Pinned } from './verified';

async function start() {
  const root = document.getElementById('app')!;
  let nodes: NodeInfo[] = [];
  let trust: Anchor | null = null;
  let pinned: Pinned | null = null;
  try {
    const config = await (await fetch('/config.json', { cache: 'no-store' })).json();
    [nodes, trust, pinned] = [config.nodes, config.chain ?? null, config.runtime ?? null];
  } catch {
    nodes = [];
  }
  if (!nodes?.length) {
    root.textContent = 'This portal knows no hospital node: start it with `phr portal --nodes ws://host:port,...`.';
    return;
  }
  if (!trust || !pinned) {
    root.textContent = 'This portal trusts no chain yet: start `phr portal` with the consortium\'s raw chain spec (--chain-spec <file>).';
    return;
  }
  root.textContent = '';
  render(h(App, { nodes, trust, pinned }), root);
}

void start();
