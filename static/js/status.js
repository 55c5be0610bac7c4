// The status bar: data source, connection state, trade rate, feed lag, gaps, and while the
// server rebuilds its windows from storage after a start, how far it has got.
import * as fmt from "./format.js";

export class StatusBar {
  constructor(root) {
    this.el = {
      source: root.querySelector('[data-testid="status-source"]'),
      conn: root.querySelector('[data-testid="status-conn"]'),
      rate: root.querySelector('[data-testid="status-rate"]'),
      lag: root.querySelector('[data-testid="status-lag"]'),
      gaps: root.querySelector('[data-testid="status-gaps"]'),
      warm: root.querySelector('[data-testid="status-warm"]'),
      warmItem: root.querySelector('[data-testid="status-warm-item"]'),
    };
    this.link = "connecting"; // the browser's own socket
    this.status = null; // the server's feed status
    this.source = null;
    this.dirty = true;
  }

  setLink(state) {
    this.link = state;
    this.dirty = true;
  }

  setSource(source) {
    this.source = source;
    this.dirty = true;
  }

  setStatus(status) {
    this.status = status;
    if (status && status.source) this.source = status.source;
    this.dirty = true;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const s = this.status;
    const feed = s ? s.state : "connecting";
    // what the user cares about: are trades flowing to this page?
    const state = this.link !== "open" ? this.link : feed;
    this.el.source.textContent = this.source ?? "–";
    this.el.source.dataset.source = this.source ?? "";
    this.el.conn.textContent = state;
    this.el.conn.dataset.state = state;
    this.el.conn.dataset.link = this.link;
    this.el.conn.title = `page socket: ${this.link}; feed: ${feed}`;
    this.el.rate.textContent = s ? `${fmt.rate(s.trades_per_s)}/s` : "–";
    this.el.lag.textContent = s ? fmt.lag(s.lag_ms) : "–";
    if (s) {
      // gaps found (seq gaps, connections lost while live), then how many were repaired
      this.el.gaps.textContent = `${fmt.integer(s.gaps)} · repaired ${fmt.integer(s.gaps_recovered)}`;
      this.el.gaps.title =
        `${s.gaps} gaps found, ${s.gaps_recovered} repaired, ` +
        `${s.trades_recovered} trades backfilled, ${s.reconnects} reconnects, ` +
        `${s.trades_stored} stored`;
    } else {
      this.el.gaps.textContent = "–";
    }
    // the windows and totals are short of the stored history until the warm-up is done
    const warming = Boolean(s && s.warming);
    this.el.warmItem.hidden = !warming;
    if (warming) {
      const total = s.warm_total;
      const pct = total ? Math.floor((100 * s.warm_rebuilt) / total) : 0;
      this.el.warm.textContent = `warming up ${pct}%`;
      this.el.warm.title =
        total === null ? "counting the stored trades" : `${s.warm_rebuilt} of ${total} stored trades rebuilt`;
    }
  }
}
