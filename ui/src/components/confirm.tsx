import { useRef, useState, type JSX } from 'react';
import { ApiError } from '../api.js';

/**
 * A button whose action asks first, in a modal dialog that names what will happen. The action's
 * error (the server's code and message) is shown in the dialog, and nothing else changes.
 */
export function ConfirmButton({ label, question, danger = false, run, onDone }: { label: string; question: string; danger?: boolean; run: () => Promise<unknown>; onDone: () => void }): JSX.Element {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await run();
      dialog.current?.close();
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className={danger ? 'danger' : undefined} onClick={() => { setError(null); dialog.current?.showModal(); }}>
        {label}
      </button>
      <dialog ref={dialog} aria-label={label}>
        <p>{question}</p>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="actions">
          <button type="button" className={danger ? 'danger' : undefined} disabled={busy} onClick={() => void confirm()}>
            {busy ? 'Working…' : `Yes, ${label.toLowerCase()}`}
          </button>
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
        </div>
      </dialog>
    </>
  );
}
