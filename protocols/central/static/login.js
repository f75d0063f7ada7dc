// The login page: where to go afterwards, and why the last try failed.
"use strict";
const query = new URLSearchParams(location.search);
document.getElementById("next").value = query.get("next") || "/";
if (query.get("failed")) {
  const box = document.getElementById("error");
  box.textContent = "That token is not a live viewer or operator token.";
  box.hidden = false;
}
