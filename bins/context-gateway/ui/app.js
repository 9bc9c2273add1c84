// The dashboard's entry module; the UI's own modules replace this.
document.getElementById("app").textContent = "Context Gateway";
