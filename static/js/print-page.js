// Buttons marked data-print print the page (the patient's access code sheet).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
