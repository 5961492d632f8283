// Light or dark theme: the system's choice until the user picks one, remembered in this browser.
(function () {
  const stored = localStorage.getItem("omnidesk-theme");
  if (stored) document.documentElement.dataset.theme = stored;
  const toggle = document.getElementById("theme-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    document.documentElement.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("omnidesk-theme", document.documentElement.dataset.theme);
  });
})();
