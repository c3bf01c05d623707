import { Link } from "../lib/router";

export function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. Go to the <Link to="/">overview</Link>.
      </p>
    </>
  );
}
