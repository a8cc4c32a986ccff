// The page that shows a new API token once: copy it to the clipboard.

const button = document.getElementById("copy-token");
const status = document.getElementById("copy-status");

if (button) {
  const input = document.getElementById(button.dataset.target);
  input.addEventListener("focus", () => input.select());
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Copied.";
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it instead.
      input.focus();
      input.select();
      status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  });
}
