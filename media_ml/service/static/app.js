// media-ml editor page: search and browse stills, open a title, judge its suggestions.
// No build step: plain ES2020, one file. Every call goes through the same HTTP API as scripts.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const view = $("#view");
const PAGE = 36;
let token = localStorage.getItem("media_ml_token") || "";
let selection = -1;          // index of the selected tile/card in the current view
let loadMore = null;         // function fetching the next page of the current grid
let observer = null;
let dropped = null;          // the image of the current image search
let renderSeq = 0;           // bumped by every route(): a slow render of an older view stops

// -- token ------------------------------------------------------------------------------------

function setToken(value) {
  token = value || "";
  if (token) {
    localStorage.setItem("media_ml_token", token);
    document.cookie = `media_ml_token=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
  } else {
    localStorage.removeItem("media_ml_token");
  }
  $("#token-button").textContent = token ? "token set" : "token";
}

(function tokenFromFragment() {
  const m = location.hash.match(/(^#|&)token=([^&]+)/);
  if (m) {
    setToken(decodeURIComponent(m[2]));
    history.replaceState(null, "", location.pathname + "#/");
  } else {
    setToken(token);
  }
})();

function askToken() {
  return new Promise((resolve) => {
    const dlg = $("#token-dialog");
    $("#token-input").value = token;
    dlg.returnValue = "";
    dlg.onclose = () => {
      if (dlg.returnValue === "save") setToken($("#token-input").value.trim());
      resolve(dlg.returnValue === "save");
    };
    dlg.showModal();
  });
}

// -- API --------------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (res.status === 401 && !options.retried) {
    if (await askToken()) return api(path, Object.assign({}, options, { retried: true }));
  }
  if (!res.ok) {
    const message = (body && body.error) || `${res.status} ${res.statusText}`;
    throw new Error(message);
  }
  return body;
}

function post(path, doc) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(doc) });
}

function status(text, isError = false) {
  const el = $("#status");
  el.textContent = text;
  el.className = isError ? "error" : "";
  if (text) setTimeout(() => { if (el.textContent === text) el.textContent = ""; }, 4000);
}

// -- routing ----------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
}

function go(path, params) {
  const q = params && [...params].length ? `?${params}` : "";
  location.hash = `#/${path}${q}`;
}

function filterParams(params = new URLSearchParams()) {
  const put = (key, value) => { if (value !== "" && value != null) params.set(key, value); };
  put("video", $("#f-video").value);
  put("transition", $("#f-transition").value);
  if ($("#f-faces").checked) params.set("faces_min", "1");
  put("sharpness_min", $("#f-sharp").value);
  put("exposure_min", $("#f-exp-min").value);
  put("exposure_max", $("#f-exp-max").value);
  return params;
}

function filtersFrom(params) {
  $("#f-video").value = params.get("video") || "";
  $("#f-transition").value = params.get("transition") || "";
  $("#f-faces").checked = params.get("faces_min") === "1";
  $("#f-sharp").value = params.get("sharpness_min") || "";
  $("#f-exp-min").value = params.get("exposure_min") || "";
  $("#f-exp-max").value = params.get("exposure_max") || "";
}

async function route() {
  const { parts, params } = parseHash();
  renderSeq += 1;
  selection = -1;
  if (observer) observer.disconnect();
  loadMore = null;
  filtersFrom(params);
  try {
    if (parts[0] === "title" && parts[1]) return await titleView(parts[1], params);
    if (parts[0] === "similar" && parts[1]) return await gridView({ keyframe: parts[1] }, params);
    if (parts[0] === "image" && dropped) return await gridView({ image: dropped }, params);
    if (parts[0] === "search" && params.get("q")) {
      $("#q").value = params.get("q");
      return await gridView({ text: params.get("q") }, params);
    }
    $("#q").value = "";
    return await gridView({}, params);
  } catch (e) {
    view.innerHTML = "";
    view.append(el("p", { class: "error" }, e.message));
  }
}

// -- DOM helpers ------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function fmtTime(s) {
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(2).padStart(5, "0")}`;
}

function items() { return [...view.querySelectorAll(".tile, .card")]; }

function select(i) {
  const all = items();
  if (!all.length) return;
  selection = Math.max(0, Math.min(all.length - 1, i));
  all.forEach((n, j) => n.classList.toggle("selected", j === selection));
  all[selection].scrollIntoView({ block: "nearest" });
}

// -- search / browse grid ---------------------------------------------------------------------

function tile(h) {
  const s = h.signals || {};
  const facts = [`${h.title} · ${fmtTime(h.time_s)}`];
  if (h.score !== undefined) facts.push(`score ${h.score.toFixed(3)}`);
  if (s.sharpness !== undefined) facts.push(`sharp ${Math.round(s.sharpness)}${s.faces ? ` · ${s.faces} face(s)` : ""}`);
  const id = h.keyframe_id || h.id;
  return el("figure", { class: "tile", "data-keyframe": id, "data-video": h.video_id },
    el("img", { src: h.thumbnail, alt: `still of ${h.title} at ${fmtTime(h.time_s)}`, loading: "lazy" }),
    el("figcaption", {}, ...facts.map((f) => el("span", {}, f))),
    el("div", { class: "actions" },
      el("a", { href: `#/similar/${id}`, class: "more" }, "more like this"),
      el("a", { href: `#/title/${h.video_id}` }, "title")));
}

async function fetchPage(query, params, offset) {
  if (query.image) {
    const q = new URLSearchParams({ k: PAGE, offset });
    if (params.get("video")) q.set("video", params.get("video"));
    const doc = await api(`/api/search/image?${q}`, { method: "POST", body: query.image,
      headers: { "Content-Type": query.image.type || "application/octet-stream" } });
    return { items: doc.hits, more: doc.more };
  }
  const q = new URLSearchParams(params);
  q.delete("q");
  q.set("k", PAGE);
  q.set("offset", offset);
  if (query.text || query.keyframe) {
    if (query.text) q.set("text", query.text); else q.set("keyframe", query.keyframe);
    const doc = await api(`/api/search?${q}`);
    return { items: doc.hits, more: doc.more };
  }
  const doc = await api(`/api/keyframes?${q}`);
  return { items: doc.keyframes, more: doc.more };
}

async function gridView(query, params) {
  const mine = renderSeq;
  const heading = query.text ? `“${query.text}”` : query.keyframe ? `more like still ${query.keyframe}`
    : query.image ? `like the dropped image (${query.image.name || "image"})` : "all stills";
  const grid = el("section", { class: "grid", id: "grid" });
  const sentinel = el("div", { class: "sentinel" });
  view.innerHTML = "";
  view.append(el("h1", {}, heading), grid, sentinel);
  if (query.keyframe) {
    grid.append(Object.assign(tile({ keyframe_id: query.keyframe, video_id: "", title: "query",
      time_s: 0, thumbnail: `/api/keyframes/${query.keyframe}/thumbnail.jpg` }), { className: "tile query" }));
  }
  let offset = 0, busy = false, more = true;
  loadMore = async () => {
    if (busy || !more || mine !== renderSeq) return;
    busy = true;
    try {
      const page = await fetchPage(query, params, offset);
      if (mine !== renderSeq) return;
      offset += page.items.length;
      more = page.more && page.items.length > 0;
      for (const h of page.items) grid.append(tile(h));
      if (!offset) grid.append(el("p", { class: "empty" }, "nothing matches"));
      if (selection < 0 && items().length) select(0);
    } catch (e) {
      status(e.message, true);
      more = false;
    } finally {
      busy = false;
    }
    if (more && sentinel.getBoundingClientRect().top < innerHeight + 400) loadMore();
  };
  observer = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); },
                                      { rootMargin: "400px" });
  observer.observe(sentinel);
  await loadMore();
}

// -- title view -------------------------------------------------------------------------------

async function titleView(videoId, params) {
  const mine = renderSeq;
  const [video, kfs, ctxs] = await Promise.all([
    api(`/api/videos/${videoId}`), api(`/api/videos/${videoId}/keyframes`), api("/api/contexts")]);
  if (mine !== renderSeq) return;
  const context = params.get("context") || "web-row";
  view.innerHTML = "";
  view.append(el("h1", {}, video.title, el("small", {},
    ` ${video.duration_s.toFixed(1)} s · ${video.shots} shots · ${video.keyframes} stills`)));
  const strip = el("section", { class: "strip", "aria-label": "contact sheet" });
  for (const k of kfs.keyframes) {
    strip.append(el("figure", { class: "frame" },
      el("a", { href: `#/similar/${k.id}`, title: "more like this" },
        el("img", { src: k.thumbnail, alt: `shot ${k.shot_index} at ${fmtTime(k.time_s)}`, loading: "lazy" })),
      el("figcaption", {}, `shot ${k.shot_index} · ${fmtTime(k.time_s)}`)));
  }
  view.append(el("h2", {}, "Shots"), strip);
  const tabs = el("nav", { class: "tabs" });
  for (const c of ctxs.contexts) {
    const p = new URLSearchParams({ context: c.name });
    tabs.append(el("a", { href: `#/title/${videoId}?${p}`, class: c.name === context ? "active" : "",
      "data-context": c.name }, `${c.name} (${c.aspect[0]}:${c.aspect[1]})`));
  }
  const cards = el("section", { class: "cards", id: "cards" });
  view.append(el("h2", {}, "Suggestions"), tabs, cards);
  const sugg = await api(`/api/videos/${videoId}/suggest?${new URLSearchParams({ context, k: 12 })}`);
  if (mine !== renderSeq) return;
  const ratio = `${sugg.aspect[0]} / ${sugg.aspect[1]}`;
  for (const c of sugg.candidates) cards.append(card(c, ratio));
  if (!sugg.candidates.length) cards.append(el("p", { class: "empty" }, "no candidates for this context"));
  const left = Object.entries(sugg.filtered || {}).map(([why, n]) => `${n} ${why}`);
  view.append(el("p", { class: "note" },
    `${sugg.rejected.length} rejected by editors (not proposed again)` +
    (left.length ? `; left out: ${left.join(", ")}` : "")));
  if (sugg.candidates.length) select(0);
}

function card(c, ratio) {
  const node = el("article", { class: `card${c.feedback ? " " + c.feedback : ""}`,
    "data-candidate": c.candidate_id, "data-keyframe": c.keyframe_id, tabindex: "-1" });
  const contrib = el("ul", { class: "reasons" });
  for (const [name, v] of Object.entries(c.contributions).sort((a, b) => b[1] - a[1])) {
    contrib.append(el("li", {}, el("span", {}, name),
      el("span", { class: "bar", style: `width:${Math.round(300 * v)}px` }), el("span", {}, `+${v.toFixed(3)}`)));
  }
  const badge = el("span", { class: "badge" }, c.feedback ? `${c.feedback}ed` : "");
  node.append(
    el("img", { src: c.image, alt: `candidate ${c.candidate_id}`, style: `aspect-ratio:${ratio}` }),
    el("header", {}, el("b", {}, `#${c.rank}`), ` score ${c.score.toFixed(3)} · shot ${c.shot_index} · ${fmtTime(c.time_s)} `, badge),
    contrib,
    el("p", { class: "why" }, c.reasons.slice(3).join("; ")),
    el("div", { class: "actions" },
      el("button", { class: "accept", onclick: () => judge(node, "accept") }, "Accept (a)"),
      el("button", { class: "reject", onclick: () => judge(node, "reject") }, "Reject (r)")));
  return node;
}

async function judge(node, verdict) {
  const id = Number(node.dataset.candidate);
  try {
    await post("/api/feedback", { candidate_id: id, verdict });
    node.classList.remove("accept", "reject");
    node.classList.add(verdict);
    node.querySelector(".badge").textContent = `${verdict}ed`;
    status(`candidate ${id} ${verdict}ed`);
  } catch (e) {
    status(`not saved: ${e.message}`, true);
  }
}

// -- keyboard, drop, filters ------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  if (e.target.matches("input, select, textarea") || e.metaKey || e.ctrlKey || e.altKey) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const all = items();
  const cur = all[selection];
  const perRow = Math.max(1, Math.round(view.clientWidth / ((all[0] && all[0].offsetWidth) || 200)));
  switch (e.key) {
    case "?": $("#help").open ? $("#help").close() : $("#help").showModal(); break;
    case "/": e.preventDefault(); $("#q").focus(); break;
    case "ArrowRight": select(selection + 1); break;
    case "ArrowLeft": select(selection - 1); break;
    case "ArrowDown": e.preventDefault(); select(selection + perRow); if (selection >= all.length - perRow && loadMore) loadMore(); break;
    case "ArrowUp": e.preventDefault(); select(selection - perRow); break;
    case "a": if (cur && cur.classList.contains("card")) judge(cur, "accept"); break;
    case "r": if (cur && cur.classList.contains("card")) judge(cur, "reject"); break;
    case "m": if (cur) location.hash = `#/similar/${cur.dataset.keyframe}`; break;
    case "Enter":
      if (cur && cur.classList.contains("tile") && cur.dataset.video) location.hash = `#/title/${cur.dataset.video}`;
      break;
    default: return;
  }
});

$("#search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("#q").value.trim();
  const params = filterParams();
  if (q) { params.set("q", q); go("search", params); } else go("", params);
});

for (const id of ["#f-video", "#f-transition", "#f-faces", "#f-sharp", "#f-exp-min", "#f-exp-max"]) {
  $(id).addEventListener("change", () => {
    const { parts, params } = parseHash();
    const next = filterParams(new URLSearchParams(params.get("q") ? { q: params.get("q") } : {}));
    if (parts[0] === "title") return;
    go(parts.join("/"), next);
  });
}

window.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dropping"); });
window.addEventListener("dragleave", () => document.body.classList.remove("dropping"));
window.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dropping");
  const file = e.dataTransfer.files && e.dataTransfer.files[0];
  if (!file) return;
  dropped = file;
  if (location.hash === "#/image") route(); else location.hash = "#/image";
});

$("#help-button").addEventListener("click", () => $("#help").showModal());
$("#token-button").addEventListener("click", () => askToken());
window.addEventListener("hashchange", route);

(async function init() {
  try {
    const vids = await api("/api/videos");
    for (const v of vids.videos) $("#f-video").append(el("option", { value: v.id }, v.title));
  } catch (e) {
    status(e.message, true);
  }
  route();
})();
