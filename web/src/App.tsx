import { useSessionState } from "./api/session";
import { Shell } from "./app/Shell";
import { SignIn } from "./pages/SignIn";

/** Signed out: the sign-in page at whatever URL was opened, which the app shows once signed in. */
export function App() {
  const { session, notice } = useSessionState();
  return session ? <Shell key={session.token} /> : <SignIn notice={notice} />;
}
