// Entry point: reads the node list the portal server hands out (`/config.json`, `phr portal
// --nodes`), then renders the app. Nothing here reports anywhere: no analytics, no remote logs.
import { h, render } from 'preact';
import { App } from './app';
import type { NodeInfo } from './chain';

async function start() {
  const root = document.getElementById('app')!;
  let nodes: NodeInfo[] = [];
  try {
    nodes = (await (await fetch('/config.json', { cache: 'no-store' })).json()).nodes;
  } catch {
    nodes = [];
  }
  if (!nodes?.length) {
    root.textContent = 'This portal knows no hospital node: start it with `phr portal --nodes ws://host:port,...`.';
    return;
  }
  root.textContent = '';
  render(h(App, { nodes }), root);
}

void start();
