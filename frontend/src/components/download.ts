// Saving a text file from the page: a browser download, except in the
// desktop window, whose webview cannot download.

/** The desktop window's webview (Wails on WebKitGTK) ignores downloads and may leave the page. */
export function inDesktopWindow(): boolean {
  return typeof (window as { go?: unknown }).go === 'object';
}

/** Makes the browser download json as a file called name. */
export function downloadFile(name: string, json: string): void {
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
