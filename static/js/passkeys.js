// Once django-otp-webauthn's script has registered a passkey, go on to the page the card names.
document.addEventListener("otp_webauthn.register_complete", () => {
  const card = document.querySelector("[data-passkey-done-url]");
  if (card) {
    window.location.assign(card.dataset.passkeyDoneUrl);
  }
});
