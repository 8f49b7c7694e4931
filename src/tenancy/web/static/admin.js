// tenancy admin page: small progressive touches; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Expand all / collapse all for the group tree (plain <details> without JavaScript).
  const tree = document.getElementById("group-tree");
  const tools = document.querySelector(".tree-tools");
  if (tree && tools && tree.querySelector("details")) {
    for (const [label, open] of [["Expand all", true], ["Collapse all", false]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.addEventListener("click", () => {
        tree.querySelectorAll("details").forEach((d) => { d.open = open; });
      });
      tools.appendChild(button);
    }
  }
  // A form that asks first (suspending a tenant).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
