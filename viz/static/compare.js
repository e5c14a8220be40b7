/* tinygrad_bn comparison page: two explorers (explorer.js) side by side, or one above the other for wide
 * graphs, moving together. Data comes from viz/compare.py: ``sides`` (each an explorer's data), ``match``
 * (per side: its box and node ids -> the other side's), ``only`` (boxes in one graph only), ``noise_only``
 * (entry ops without a counterpart), ``fills`` and ``words`` (the ratio B/A of matched tensors and boxes),
 * ``rows`` (the largest differences). No request leaves the page. */
"use strict";
window.TinygradCompare = (() => {
  const { Explorer, h } = window.TinygradExplorer;

  class Compare {
    constructor(root, data) {
      this.root = root;
      this.data = data;
      this.quiet = 0; // > 0 while one view is being moved to follow the other (no echo)
      this.centres = new WeakMap();
      const d = data;
      const ramp = `linear-gradient(to right, ${d.ramp.join(", ")})`;
      const legend = h("div", { class: "cmp-legend" },
        h("span", { class: "cmp-ramp" }, h("span", { class: "bar-ramp", style: `background:${ramp}` }),
          h("span", { class: "ends" }, d.ramp_ends.map((t) => h("span", {}, t)))),
        h("span", {}, `fill: ${d.labels[1]} ÷ ${d.labels[0]} of the gradient norm (else the std)`),
        h("span", {}, h("span", { class: "swatch only" }), "box in one graph only"),
        h("span", {}, h("span", { class: "swatch noise-only" }), "noise entry in one graph only"));
      const head = h("div", { class: "cmp-head" }, h("div", { class: "headline" }, d.headline),
        h("div", { class: "summary" }, d.summary), legend);
      this.panes = d.sides.map(() => h("div", { class: "tgbn-x" }));
      const views = h("div", { class: "views" }, this.panes.map((p, i) =>
        h("div", { class: "view" }, h("div", { class: "label" }, d.labels[i]), p)));
      const rows = d.rows.map((r, k) => h("tr", { class: "row", "data-row": String(k), tabindex: "0",
        onclick: () => this.centre(r), onkeydown: (e) => { if (e.key === "Enter") this.centre(r); } },
      h("td", {}, r.what), h("td", {}, r.words)));
      const table = h("div", { class: "diffs" }, h("h4", {}, `largest differences (${d.rows.length} of ${d.total}; ` +
        "click a row to centre both views on it)"), d.rows.length ? h("table", {}, rows)
        : h("p", { class: "hint" }, "No differences: every box and noise entry has its match, and no std or gradient norm " +
          "differs by more than 1%."));
      root.append(head, views, table);
      this.x = [];
      Promise.all(d.sides.map((side, i) => Explorer.open(this.panes[i], side))).then((xs) => {
        this.x = xs;
        xs.forEach((ex, i) => { // before their first layout (a task of its own)
          ex.heatOn = false; // the fills show the ratios: the gradient heat starts off (its toggle turns it on)
          ex.root.querySelector("input.heatOn").checked = false;
          ex.watch([...Object.values(d.match[1 - i]), ...d.noise_only[i]]); // what partner() and mark() look up
        });
      });
      this.panes.forEach((p, i) => {
        p.addEventListener("tgbn-view", () => this.follow(i));
        p.addEventListener("tgbn-toggle", (e) => this.mirror(i, e.detail));
        p.addEventListener("tgbn-paint", () => this.mark(i));
        new MutationObserver(() => this.ready()).observe(p, { attributes: true, attributeFilter: ["data-ready"] });
      });
    }

    /* Both laid out the first time: wide graphs go one above the other, then the views start together. */
    ready() {
      if (this.started !== undefined || !this.x.length || !this.x.every((ex) => ex.root.dataset.ready === "1" && ex.view)) return;
      this.started = false;
      setTimeout(async () => { // after each explorer's own first view
        if (this.openLikeFirst()) {
          await this.x[1].layout();
          this.x[1].firstView();
        }
        const wide = this.x.every((ex) => ex.base[2] > 1.3 * ex.base[3]);
        this.root.classList.toggle("stacked", wide);
        if (wide) for (const ex of this.x) ex.firstView();
        this.started = true;
        this.follow(0);
        this.root.dataset.ready = "1";
      });
    }

    /* The second view opens (and unrolls) the boxes the first view has open, so both start alike; true if
     * anything changed. */
    openLikeFirst() {
      const [a, b] = this.x;
      let changed = false;
      for (const [s, m] of Object.entries(this.data.match[0])) {
        if (!(s in a.data.scopes) || !(m in b.data.scopes) || a.collapsed.has(s) || !b.collapsed.has(m)) continue;
        if (a.rollOf[s] !== undefined && a.rolled.has(a.rollOf[s])) continue;
        b.collapsed.delete(m);
        if (b.rollOf[m] !== undefined) b.rolled.delete(b.rollOf[m]);
        changed = true;
      }
      return changed;
    }

    /* What side ``i``'s drawn key stands for in the other graph, as the element drawn there (or null). */
    partner(i, key) {
      const ex = this.x[i], other = this.x[1 - i], match = this.data.match[i];
      let id = key in ex.data.rolls ? match[ex.data.rolls[key].scopes[0]] : match[key];
      if (id === undefined) return null;
      if (id in other.data.scopes) {
        const r = other.rollOf[id];
        if (r !== undefined && other.rolled.has(r)) id = r;
        return other.nodes.get(id) || other.svg.querySelector(`#c-${CSS.escape(id)}`) || other.nodes.get(other.rep(id));
      }
      return other.nodes.get(other.rep(id)) || null;
    }

    /* The centre of an element in its explorer's viewBox coordinates (which no pan or zoom changes: kept until
     * the next layout makes new elements). */
    centreOf(ex, el) {
      if (!this.centres.has(el)) {
        const b = el.getBBox(), m = ex.svg.getScreenCTM().inverse().multiply(el.parentNode.getScreenCTM());
        const p = new DOMPoint(b.x + b.width / 2, b.y + b.height / 2).matrixTransform(m);
        this.centres.set(el, [p.x, p.y]);
      }
      return this.centres.get(el);
    }

    /* Move the other view so the matched element nearest the centre of view ``i`` sits where it sits in
     * ``i``, at the same screen scale. */
    follow(i) {
      const me = this.x[i], other = this.x[1 - i];
      if (this.quiet || !this.started || !me.view || !me.nodes || !other.nodes || !other.view) return;
      const [x, y, w, hgt] = me.view, cx = x + w / 2, cy = y + hgt / 2;
      let best = null;
      for (const [key, g] of me.nodes) {
        const there = this.partner(i, key);
        if (!there) continue;
        const [ax, ay] = this.centreOf(me, g), dist = Math.hypot(ax - cx, ay - cy);
        if (!best || dist < best[0]) best = [dist, ax, ay, there];
      }
      if (!best) return;
      const [, ax, ay, there] = best, [bx, by] = this.centreOf(other, there);
      const scale = me.scaleFor(w, hgt), r = other.pane.getBoundingClientRect();
      const ow = r.width / scale, oh = r.height / scale;
      this.quiet++;
      try {
        other.setView(bx + (cx - ax) - ow / 2, by + (cy - ay) - oh / 2, ow, oh);
      } finally {
        this.quiet--;
      }
    }

    /* A box of side ``i`` is about to open or close: do the same to its match. */
    mirror(i, key) {
      if (this.quiet) return;
      const me = this.x[i], other = this.x[1 - i], match = this.data.match[i];
      let there = null;
      if (key in me.data.rolls) {
        const s = match[me.data.rolls[key].scopes[0]], r = s === undefined ? undefined : other.rollOf[s];
        if (r !== undefined && other.rolled.has(r)) there = r;
      } else if (match[key] !== undefined && other.collapsed.has(match[key]) === me.collapsed.has(key)) {
        there = match[key];
      }
      if (there === null) return;
      this.quiet++;
      try {
        other.toggle(there).then(() => { // both laid out (one worker, in order): centre on the box, the match follows
          const el = me.svg.querySelector(`#c-${CSS.escape(key)}`) || me.nodes.get(key);
          if (el) me.centreOn(el);
          else this.follow(i);
        });
      } finally {
        this.quiet--;
      }
    }

    /* Side ``i``'s differences on its drawing: ratio fills, boxes in one graph only, noise in one graph only. */
    mark(i) {
      const ex = this.x[i], d = this.data, fills = d.fills[i], words = d.words[i];
      const only = new Set(d.only[i]), noise = new Set(d.noise_only[i].map((n) => ex.rep(n)));
      for (const [key, g] of ex.nodes) {
        if (fills[key] && !ex.data.marks.entry[key]) {
          for (const s of g.querySelectorAll(":scope > ellipse, :scope > polygon, :scope > path")) s.setAttribute("fill", fills[key]);
        }
        const title = g.querySelector(":scope > title");
        if (title && words[key]) title.textContent = `${key}: ${words[key]}`;
        const box = key in ex.data.rolls ? ex.data.rolls[key].scopes : [key];
        g.classList.toggle("only", box.some((s) => only.has(s)));
        g.classList.toggle("noise-only", noise.has(key));
      }
      for (const c of ex.svg.querySelectorAll("g.cluster")) c.classList.toggle("only", only.has(c.id.slice(2)));
    }

    /* A row of the table: open what hides the pair, centre both views on it and outline it. */
    async centre(row) {
      for (const tr of this.root.querySelectorAll("tr.row")) tr.classList.toggle("on", this.data.rows[+tr.dataset.row] === row);
      this.quiet++;
      try {
        for (const [i, key] of [row.a, row.b].entries()) {
          const ex = this.x[i];
          if (key === null || key === undefined) continue;
          await ex.reveal(key);
          const drawn = key in ex.data.scopes ? ex.rollOf[key] ?? key : ex.rep(key);
          const el = ex.nodes.get(drawn) || ex.svg.querySelector(`#c-${CSS.escape(key)}`);
          if (!el) continue;
          ex.centreOn(el);
          for (const g of ex.nodes.values()) g.classList.toggle("found", g === el);
          ex.pinned = drawn;
          ex.show(drawn);
        }
      } finally {
        this.quiet--;
      }
      if (row.a === null || row.b === null) this.follow(row.a === null ? 1 : 0);
    }
  }

  const mount = (root, text) => setTimeout(() => {
    root.compare = new Compare(root, JSON.parse(text));
  });
  return { mount, Compare };
})();
