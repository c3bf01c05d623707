import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";

type Props = {
  title: string;
  children: ReactNode;
  submitLabel: string;
  /** False while the form is invalid (the submit button is disabled). */
  valid?: boolean;
  /** Runs on submit; the dialog stays open, showing the error, if it throws. */
  onSubmit: () => Promise<void>;
  onClose: () => void;
};

/** A modal form (native <dialog>) for actions that take input: run now, set state. */
export function FormDialog({ title, children, submitLabel, valid = true, onSubmit, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await onSubmit();
      onClose();
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="confirm form-dialog" aria-labelledby="form-dialog-title" onClose={onClose}>
      <form onSubmit={submit}>
        <h2 id="form-dialog-title">{title}</h2>
        {children}
        {error && (
          <p className="status error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !valid}>
            {busy ? "Working…" : submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
