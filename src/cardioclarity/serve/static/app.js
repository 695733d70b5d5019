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
    $("error-hint").textContent = problem.hint ? "Hint: " + pageHint(problem.hint) : "";
  }
  // The API's hints name routes for programs; on the page, say what to do with the page.
  function pageHint(hint) {
    if (/\/v1\/xray/.test(hint)) return "this is a chest X-ray: choose \u201cChest X-ray\u201d (or Automatic) and drop it again.";
    if (/\/v1\/ecg/.test(hint)) return "this is an ECG: choose \u201cECG record\u201d or \u201cECG beats\u201d (or Automatic) and drop it again.";
    if (/\/v1\/models/.test(hint)) return "this server cannot run that analysis; the others still work.";
    return hint;
  }
  function userMessage(text) {
    $("result").hidden = true;
    $("error").hidden = false;
    $("error-title").textContent = "Nothing was analysed";
    $("error-detail").textContent = text;
    $("error-hint").textContent = "";
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
  const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^nan$/i;
  // Shape of a text table: rows of numbers, their most common width, whether most rows have it.
  function textShape(text) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim()).slice(0, 200);
    if (lines.length && !lines[lines.length - 1].match(/[\d.]\s*$/)) lines.pop(); // cut mid-number
    const rows = lines.map((l) => l.trim().split(/[,;\t ]+/));
    const numeric = rows.filter((r) => r.every((c) => NUMBER.test(c)));
    const widths = {};
    for (const r of numeric) widths[r.length] = (widths[r.length] || 0) + 1;
    const [width, count] = Object.entries(widths).sort((a, b) => b[1] - a[1])[0] || [0, 0];
    return { rows: rows.length, numeric: numeric.length, width: Number(width), same: count };
  }
  // One of: image, record, record-part, signal, beats, unknown (with what was seen).
  async function classify(file) {
    const b = await head(file, 65536);
    const name = file.name.toLowerCase();
    const at = (off, s) => [...s].every((ch, i) => b[off + i] === ch.charCodeAt(0));
    // A DICOM ECG waveform (SOP class under 1.2.840.10008.5.1.4.1.1.9.) is a record, not an image.
    const latin = (n) => new TextDecoder("latin1").decode(b.subarray(0, Math.min(b.length, n)));
    if (b.length >= 132 && at(128, "DICM")) return latin(4096).includes("1.2.840.10008.5.1.4.1.1.9.") ? "record" : "image";
    // XML ECGs: HL7 aECG and Philips Sierra (often UTF-16 with a byte-order mark).
    if ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff)) {
      const t16 = new TextDecoder(b[0] === 0xff ? "utf-16le" : "utf-16be").decode(b);
      return /<(\w+:)?(AnnotatedECG|restingecgdata)[\s>]/.test(t16) ? "record" : "unknown";
    }
    if (/^\s*</.test(latin(256)) && /<(\w+:)?(AnnotatedECG|restingecgdata)[\s>]/.test(latin(65536))) return "record";
    if (b[0] === 0x89 && at(1, "PNG")) return "image";
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image";
    if (at(0, "PK\x03\x04")) return "record"; // a zipped WFDB record
    if (at(0, "0       ")) return "record"; // EDF
    if (/\.(dat|mat|atr)$/.test(name)) return "record-part";
    if (b.includes(0)) return "unknown";
    const text = new TextDecoder("utf-8", { fatal: false }).decode(b).replace(/^\ufeff/, "");
    const t = text.trimStart();
    if (t.startsWith("{") || t.startsWith("[")) {
      if (/"signal"\s*:/.test(t)) return "record";
      if (/"beats"\s*:/.test(t) || /^\[\s*\[/.test(t)) return "beats";
      return "unknown";
    }
    // A WFDB header: "<record> <n signals> [<fs> [<n samples>]]" on its first data line.
    const first = text.split(/\r?\n/).find((l) => l.trim() && !l.startsWith("#")) || "";
    if (name.endsWith(".hea") || /^\S+ \d+(\/\d+)?( \d+(\.\d+)?(\/\S+)?( \d+)?)?\s*$/.test(first)
        && !NUMBER.test(first.split(" ")[0])) return "record";
    const shape = textShape(text);
    if (shape.numeric >= 2 && shape.width >= 10 && shape.same >= 0.8 * shape.numeric) return "beats";
    if (shape.numeric >= 2 && shape.width <= 12) return "signal";
    return "unknown";
  }
  // {mode} to analyse, or {message} telling the user what to do instead.
  async function detectMode(files) {
    const kinds = await Promise.all(files.map(classify));
    const n = (k) => kinds.filter((x) => x === k).length;
    const images = n("image");
    if (images > 1) return { message: `${images === 2 ? "Two" : images} images were dropped: drop one chest X-ray at a time.` };
    if (images === 1 && files.length > 1) return { message: "A chest X-ray and other files were dropped together: drop either one chest X-ray or one ECG recording." };
    if (images === 1) return { mode: "xray" };
    if (n("unknown") === files.length) return { message: `CardioClarity cannot tell what ${files.length === 1 ? "this file is" : "these files are"}: drop an ECG recording (WFDB .hea with its .dat, CSV, EDF, JSON, DICOM ECG, HL7 aECG or Philips XML), a table of beats, or a chest X-ray (DICOM, PNG, JPEG).` };
    if (n("record") || n("record-part")) return { mode: "record" };
    if (files.length > 1) return { message: `${files.length} separate tables were dropped: drop one ECG file at a time.` };
    if (kinds[0] === "beats") return { mode: "beats" };
    if (!$("fs").value.trim()) return { message: "This looks like an ECG signal in columns: enter its sampling rate (Hz) above and drop it again." };
    return { mode: "record" };
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
  // "usable_fraction" -> "Usable fraction", "window_s" -> "Window (s)", "n_windows" -> "Windows".
  const LABELS = { usable_fraction: "Usable signal", n_windows: "Windows checked",
    n_unusable_windows: "Unusable windows", unusable_segments: "Unusable stretches" };
  function label(key) {
    if (LABELS[key]) return LABELS[key];
    const unit = key.match(/_(s|ms|bpm|hz|mv)$/);
    let text = (unit ? key.slice(0, -unit[0].length) : key).replace(/^n_/, "number of ").replace(/_/g, " ");
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return unit ? `${text} (${unit[1] === "hz" ? "Hz" : unit[1] === "mv" ? "mV" : unit[1]})` : text;
  }
  function qualityValue(key, v) {
    if (typeof v === "number" && /fraction/.test(key)) return (100 * v).toFixed(1) + " %";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
    if (Array.isArray(v)) return v.length ? v.map((x) => typeof x === "object" && x
      ? `${fmt(x.start_s, 1)}–${fmt(x.end_s, 1)} s${x.reason ? " (" + x.reason + ")" : ""}` : fmt(x, 2)).join("; ") : "none";
    return fmt(v, 2);
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
      ...(r.leads_used ? [["Leads used", r.leads_used.join(" ")],
        ["Heart rate, leads fused (bpm)", fmt((r.multilead || {}).heart_rate_bpm, 0)]] : []),
    ]));
    if (r.intervals) {
      const iv = r.intervals;
      const rows = ["pr", "qrs", "qt", "qtc_bazett", "qtc_fridericia"].map((k) => ({
        interval: k.toUpperCase().replace("_", " "), ms: iv[k] && iv[k].value_ms !== null ? fmt(iv[k].value_ms, 0) : "withheld",
        note: (iv[k] && iv[k].withheld) || "" }));
      $("tables").appendChild(table(`Intervals (${iv.method || ""}, lead ${iv.lead || "?"})`, rows, ["interval", "ms", "note"]));
    }
    if (r.images && r.images.ecg12) showImage(r.images.ecg12, "12-lead ECG, 25 mm/s, 10 mm/mV");
    $("tables").appendChild(table("Rhythm episodes", rhythm.episodes || [], ["type", "start_s", "end_s"], 50));
    $("tables").appendChild(table("Flagged beats", flagged, ["time_s", "sample", "score"], 100));
    const qrows = Object.entries(q).map(([k, v]) => ({ check: label(k), value: qualityValue(k, v) }));
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
    $("download-report").hidden = false; // every analysis has its HTML report
  }

  // --- actions --------------------------------------------------------------------------------
  async function analyse(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    let mode = $("mode").value;
    if (mode === "auto") {
      const choice = await detectMode(files);
      if (choice.message) { last = null; userMessage(choice.message); setStatus(""); return; }
      mode = choice.mode;
    }
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
