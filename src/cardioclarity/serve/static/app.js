// CardioClarity web page: drop a file, POST it to the API, render the result. No framework, no
// network beyond this server. All server text is inserted with textContent (never innerHTML).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const ROUTES = { record: "/v1/ecg/records", beats: "/v1/ecg/beats", xray: "/v1/xray/heart" };
  const TITLES = { record: "ECG record", beats: "ECG beats", xray: "Chest X-ray" };
  let last = null; // {mode, files, json}

  // --- helpers ------------------------------------------------------------------------------
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(digits ?? 3);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(", ");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function setStatus(text, busy) {
    $("status").textContent = text || "";
    $("status").classList.toggle("busy", !!busy);
  }
  function headers() {
    const h = {};
    const key = $("api-key").value.trim();
    if (key) h["X-API-Key"] = key;
    return h;
  }
  function showError(problem) {
    $("result").hidden = true;
    $("error").hidden = false;
    $("error-title").textContent = (problem.status ? problem.status + " " : "") + (problem.title || "Error");
    $("error-detail").textContent = problem.detail || "The request failed.";
    $("error-hint").textContent = problem.hint ? "Hint: " + problem.hint : "";
  }
  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // --- deciding what a file is (by content, like the server) -----------------------------------
  async function head(file, n) {
    return new Uint8Array(await file.slice(0, n).arrayBuffer());
  }
  async function detectMode(files) {
    if (files.length > 1) return "record";
    const b = await head(files[0], 132);
    const isDicom = b.length >= 132 && b[128] === 68 && b[129] === 73 && b[130] === 67 && b[131] === 77;
    const isPng = b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
    const isJpeg = b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
    return isDicom || isPng || isJpeg ? "xray" : "record";
  }

  function formData(files) {
    const fd = new FormData();
    for (const f of files) fd.append("file", f, f.name);
    const fs = $("fs").value.trim();
    const lead = $("lead").value.trim();
    if (fs) fd.append("fs", fs);
    if (lead) fd.append("lead", lead);
    return fd;
  }

  async function post(mode, files, query) {
    const resp = await fetch(ROUTES[mode] + query, { method: "POST", body: formData(files), headers: headers() });
    const type = resp.headers.get("content-type") || "";
    if (!resp.ok) {
      let problem = { status: resp.status, title: resp.statusText };
      if (type.includes("json")) {
        try { problem = await resp.json(); } catch (e) { /* keep the status line */ }
      }
      if (resp.status === 503 && resp.headers.get("Retry-After")) {
        problem.hint = (problem.hint ? problem.hint + " " : "") + "(retry in " + resp.headers.get("Retry-After") + " s)";
      }
      throw problem;
    }
    return resp;
  }

  // --- rendering ------------------------------------------------------------------------------
  function facts(pairs) {
    const dl = el("dl", null, "facts");
    for (const [k, v] of pairs) {
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", v));
    }
    return dl;
  }
  function table(title, rows, cols, limit) {
    const wrap = document.createElement("div");
    wrap.appendChild(el("h3", title));
    if (!rows.length) { wrap.appendChild(el("p", "None.", "muted")); return wrap; }
    const t = document.createElement("table");
    const tr = document.createElement("tr");
    for (const c of cols) tr.appendChild(el("th", c));
    t.appendChild(tr);
    for (const r of rows.slice(0, limit || rows.length)) {
      const row = document.createElement("tr");
      for (const c of cols) row.appendChild(el("td", fmt(r[c])));
      t.appendChild(row);
    }
    wrap.appendChild(t);
    if (limit && rows.length > limit) wrap.appendChild(el("p", `… ${rows.length - limit} more in the JSON and the report.`, "muted"));
    return wrap;
  }
  function flag(text, kind) { return el("span", text, "flag " + kind); }
  function showImage(src, caption) {
    $("figure").hidden = !src;
    if (src) { $("result-image").src = src; $("result-image").alt = caption; $("figure-caption").textContent = caption; }
  }

  function renderXray(r) {
    const flags = $("flags");
    if (r.cardiomegaly === true) flags.appendChild(flag("Cardiomegaly flagged (CTR > threshold)", "bad"));
    else if (r.cardiomegaly === false) flags.appendChild(flag("No cardiomegaly flag", "ok"));
    if (r.ctr === null || r.ctr === undefined) flags.appendChild(flag("No CTR measured", "warn"));
    const q = r.quality || {};
    if (q.ok === false) flags.appendChild(flag("Quality check failed: read the notes", "warn"));
    for (const w of (q.notes || q.warnings || [])) flags.appendChild(flag(String(w), "warn"));
    showImage(r.images && r.images.overlay, "Heart contour and box, cardiothoracic ratio lines");
    const spacing = r.pixel_spacing_mm;
    $("facts").appendChild(facts([
      ["Cardiothoracic ratio", fmt(r.ctr)],
      ["Heart box (x_min, y_min, x_max, y_max)", fmt(r.heart_box, 0)],
      ["Image size (w, h)", fmt(r.image_size, 0)],
      ["Pixel spacing (mm)", spacing === null || spacing === undefined ? "unknown" : fmt(spacing)],
      ["View position", fmt(r.view_position)],
      ["Model", r.model ? fmt(r.model.name || r.model.model || r.model) : "–"],
    ]));
    const m = r.measurements || {};
    const mrows = Object.entries(m).filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => ({ measurement: k.replace(/_/g, " "), value: v }));
    if (mrows.length) $("tables").appendChild(table("Measurements", mrows, ["measurement", "value"]));
  }

  function renderRecord(r) {
    const rhythm = r.rhythm || {};
    const beats = r.beats || [];
    const flagged = beats.filter((b) => b.is_anomaly);
    const flags = $("flags");
    const scored = beats.filter((b) => typeof b.score === "number");
    if (beats.length && !scored.length) flags.appendChild(flag(`${beats.length} beats found, not scored (no beat model)`, "warn"));
    else flags.appendChild(flag(`${flagged.length} of ${scored.length} beats flagged`, flagged.length ? "bad" : "ok"));
    if (rhythm.irregular === true) flags.appendChild(flag("Irregular rhythm", "bad"));
    else if (rhythm.irregular === false) flags.appendChild(flag("Regular rhythm", "ok"));
    const q = r.quality || {};
    if (q.usable === false) flags.appendChild(flag("Poor signal quality", "warn"));
    showImage(r.images && r.images.strip, "ECG strip; flagged beats marked");
    const hr = rhythm.heart_rate_bpm || {};
    $("facts").appendChild(facts([
      ["Duration", fmt(r.duration_s, 1) + " s"],
      ["Sampling rate", fmt(r.sampling_rate) + " Hz"],
      ["Lead", fmt(r.lead)],
      ["Heart rate (bpm)", typeof hr === "object" ? Object.entries(hr).map(([k, v]) => `${k} ${fmt(v, 0)}`).join(" · ") : fmt(hr, 0)],
      ["Irregularity score", fmt(rhythm.irregularity_score)],
    ]));
    $("tables").appendChild(table("Rhythm episodes", rhythm.episodes || [], ["type", "start_s", "end_s"], 50));
    $("tables").appendChild(table("Flagged beats", flagged, ["time_s", "sample", "score"], 100));
    const qrows = Object.entries(q).map(([k, v]) => ({ check: k, value: v }));
    if (qrows.length) $("tables").appendChild(table("Signal quality", qrows, ["check", "value"]));
  }

  function plotScores(rows, threshold) {
    const c = $("score-plot");
    c.hidden = false;
    const ctx = c.getContext("2d");
    const w = c.width, h = c.height, pad = 30;
    ctx.clearRect(0, 0, w, h);
    const scores = rows.map((r) => r.score);
    const max = Math.max(...scores, threshold || 0) * 1.05 || 1;
    const x = (i) => pad + (i + 0.5) * (w - 2 * pad) / scores.length;
    const y = (v) => h - pad - v / max * (h - 2 * pad);
    ctx.strokeStyle = "#ccd"; ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
    for (let i = 0; i < rows.length; i++) {
      ctx.fillStyle = rows[i].is_anomaly ? "#b42318" : "#2f6db3";
      ctx.beginPath(); ctx.arc(x(i), y(scores[i]), 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    if (typeof threshold === "number") {
      ctx.strokeStyle = "#f0a020"; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(pad, y(threshold)); ctx.lineTo(w - pad, y(threshold)); ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.fillStyle = "#5b6573"; ctx.font = "12px system-ui";
    ctx.fillText("anomaly score per beat (red = flagged; dashed = threshold)", pad, pad - 10);
  }

  function renderBeats(r) {
    const rows = r.beats || [];
    $("flags").appendChild(flag(`${r.n_anomalies} of ${r.n_beats} beats flagged`, r.n_anomalies ? "bad" : "ok"));
    if (rows.length) plotScores(rows, r.threshold);
    $("facts").appendChild(facts([["Beats", fmt(r.n_beats)], ["Flagged", fmt(r.n_anomalies)],
      ["Threshold", fmt(r.threshold)], ["Beat length (samples)", fmt(r.input_length)]]));
    $("tables").appendChild(table("Flagged beats", rows.filter((b) => b.is_anomaly), ["index", "score"], 100));
  }

  function render(mode, json) {
    $("error").hidden = true;
    $("result").hidden = false;
    $("result-title").textContent = TITLES[mode] + " result";
    for (const id of ["flags", "facts", "tables"]) $(id).replaceChildren();
    $("score-plot").hidden = true;
    $("figure").hidden = true;
    $("result").dataset.mode = mode;
    if (mode === "xray") renderXray(json);
    else if (mode === "record") renderRecord(json);
    else renderBeats(json);
    if (json.disclaimer) $("disclaimer").textContent = json.disclaimer;
    $("download-report").hidden = mode === "beats";
  }

  // --- actions --------------------------------------------------------------------------------
  async function analyse(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    let mode = $("mode").value;
    if (mode === "auto") mode = await detectMode(files);
    setStatus(`Analysing ${files.length === 1 ? files[0].name : files.length + " files"} as ${TITLES[mode]}…`, true);
    const t0 = performance.now();
    try {
      const query = mode === "beats" ? "" : "?include_images=true";
      const json = await (await post(mode, files, query)).json();
      last = { mode, files, json };
      render(mode, json);
      setStatus(`Done in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
    } catch (problem) {
      last = null;
      showError(problem instanceof Error ? { title: "Network error", detail: problem.message,
        hint: "is the server still running?" } : problem);
      setStatus("");
    }
  }

  async function downloadReport() {
    if (!last) return;
    const btn = $("download-report");
    btn.disabled = true;
    setStatus("Writing the report…", true);
    try {
      const resp = await post(last.mode, last.files, "?format=html");
      const stem = (last.files[0].name || "result").replace(/\.[^.]*$/, "");
      download(await resp.blob(), stem + "_report.html");
      setStatus("Report downloaded.");
    } catch (problem) {
      showError(problem instanceof Error ? { title: "Network error", detail: problem.message } : problem);
      setStatus("");
    } finally {
      btn.disabled = false;
    }
  }

  function downloadJson() {
    if (!last) return;
    const out = Object.assign({}, last.json);
    delete out.images; // the JSON file is the CLI's schema; images go in the report
    const stem = (last.files[0].name || "result").replace(/\.[^.]*$/, "");
    download(new Blob([JSON.stringify(out, null, 2)], { type: "application/json" }), stem + ".json");
  }

  // --- wiring ---------------------------------------------------------------------------------
  const dz = $("dropzone");
  const input = $("file-input");
  dz.addEventListener("click", () => input.click());
  dz.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => { analyse(input.files); input.value = ""; });
  for (const ev of ["dragenter", "dragover"]) dz.addEventListener(ev, (e) => { e.preventDefault(); dz.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) dz.addEventListener(ev, (e) => { e.preventDefault(); dz.classList.remove("over"); });
  dz.addEventListener("drop", (e) => analyse(e.dataTransfer.files));
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("download-report").addEventListener("click", downloadReport);
  $("download-json").addEventListener("click", downloadJson);
  const key = sessionStorage.getItem("cardioclarity-api-key");
  if (key) $("api-key").value = key;
  $("api-key").addEventListener("change", () => sessionStorage.setItem("cardioclarity-api-key", $("api-key").value));
})();
