// Lotse's only script of its own (the pages work without it; CSP: script-src 'self').
//
// An inline check answers with the field the person left, swapped in out of band. When
// the answer is slow and the person has meanwhile gone back into that very field, the
// swap would replace the input under their fingers: its focus and what they typed since
// would be lost. Such a swap is skipped; the next check (on leaving the field) brings
// the field's message up to date.
document.addEventListener("htmx:oobBeforeSwap", function (event) {
  var target = event.detail.target;
  if (target && document.activeElement && target.contains(document.activeElement)) {
    event.detail.shouldSwap = false;
  }
});
