// Campaign pages: the create wizard (steps, audience preview, template/text switch) and live progress.
(function () {
  "use strict";

  function formatDuration(seconds) {
    if (!seconds) return "under a second";
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return [h ? h + " h" : "", m ? m + " min" : "", s && !h ? s + " s" : ""].filter(Boolean).join(" ");
  }

  // -- wizard ---------------------------------------------------------------------------------------------
  const wizard = document.getElementById("wizard");
  if (wizard) {
    const steps = Array.from(wizard.querySelectorAll("section.step"));
    const markers = Array.from(document.querySelectorAll("#steps li"));
    const back = document.getElementById("back"), next = document.getElementById("next");
    let current = 0;

    function show(index) {
      current = Math.max(0, Math.min(steps.length - 1, index));
      steps.forEach((step, i) => { step.hidden = i !== current; });
      markers.forEach((marker, i) => marker.classList.toggle("current", i === current));
      back.disabled = current === 0;
      next.hidden = current === steps.length - 1;
      if (current === steps.length - 1) preview();
    }
    back.addEventListener("click", () => show(current - 1));
    next.addEventListener("click", () => {
      if (current === 0 && !document.getElementById("name").reportValidity()) return;
      show(current + 1);
    });

    async function preview() {
      const output = document.getElementById("audience-count");
      const data = new FormData(wizard);
      output.textContent = "counting…";
      const response = await fetch(wizard.dataset.previewUrl, { method: "POST", body: data, credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) { output.textContent = body.error.message; return; }
      output.textContent = `${body.count} recipient(s)`;
      const errors = document.getElementById("csv-errors");
      errors.replaceChildren(...body.csv_errors.map((e) => {
        const item = document.createElement("li");
        item.textContent = `CSV line ${e.line}: ${e.error}`;
        return item;
      }));
      document.getElementById("review-count").textContent = body.count;
      document.getElementById("review-duration").textContent =
        body.pace ? `${formatDuration(body.estimated_s)} (${body.pace})` : "—";
      document.getElementById("start").disabled = body.count === 0;
    }
    document.getElementById("preview").addEventListener("click", preview);

    function cloneRow(containerId) {
      const container = document.getElementById(containerId);
      const row = container.firstElementChild.cloneNode(true);
      row.querySelectorAll("input").forEach((input) => { input.value = ""; });
      container.appendChild(row);
    }
    document.getElementById("add-condition").addEventListener("click", () => cloneRow("conditions"));
    document.getElementById("add-variable").addEventListener("click", () => cloneRow("variables"));

    const kind = document.getElementById("kind");
    function switchKind() {
      document.getElementById("template-fields").hidden = kind.value !== "template";
      document.getElementById("text-fields").hidden = kind.value !== "text";
    }
    kind.addEventListener("change", switchKind);
    switchKind();

    // Only the chosen channel's templates are offered.
    const channel = document.getElementById("channel_id"), template = document.getElementById("template");
    function filterTemplates() {
      if (!template.options) return;  // no synced templates: a text field instead
      let firstVisible = null;
      Array.from(template.options).forEach((option) => {
        option.hidden = option.dataset.channel !== channel.value;
        if (!option.hidden && !option.disabled && firstVisible === null) firstVisible = option;
      });
      if (template.selectedOptions[0] && template.selectedOptions[0].hidden && firstVisible) firstVisible.selected = true;
    }
    // One variable row per placeholder of the chosen template.
    function syncVariables() {
      const option = template.selectedOptions && template.selectedOptions[0];
      const container = document.getElementById("variables");
      const wanted = option ? Number(option.dataset.variables || 0) : 0;
      while (container.children.length < wanted) cloneRow("variables");
    }
    channel.addEventListener("change", () => { filterTemplates(); syncVariables(); });
    template.addEventListener("change", syncVariables);
    filterTemplates();
    syncVariables();
    show(0);
  }

  // -- cancel confirmation -----------------------------------------------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => { if (!window.confirm(form.dataset.confirm)) event.preventDefault(); });
  });

  // -- live progress ----------------------------------------------------------------------------------------
  document.addEventListener("omnidesk:campaign.progress", (event) => {
    const progress = event.detail;
    document.querySelectorAll(`[data-campaign="${progress.id}"]`).forEach((root) => {
      const scope = root.id === "campaign" ? document : root;
      scope.querySelectorAll("[data-stat]").forEach((cell) => {
        if (progress[cell.dataset.stat] !== undefined) cell.textContent = progress[cell.dataset.stat];
      });
      root.querySelectorAll("[data-field]").forEach((cell) => {
        if (cell.dataset.field === "status") {
          cell.textContent = progress.status.replace("_", " ");
          cell.className = `badge status-${progress.status}`;
        } else if (progress[cell.dataset.field] !== undefined) {
          cell.textContent = progress[cell.dataset.field];
        }
      });
      if (root.id === "campaign") {
        const values = [progress.total, progress.sent, progress.delivered, progress.read, progress.replied, progress.clicked];
        const max = Math.max(progress.total, 1);
        document.querySelectorAll("[data-funnel]").forEach((bar) => {
          const value = values[Number(bar.dataset.funnel)];
          bar.style.setProperty("--share", `${Math.round((100 * value) / max)}%`);
          bar.nextElementSibling.textContent = value;
        });
      }
    });
  });
})();
