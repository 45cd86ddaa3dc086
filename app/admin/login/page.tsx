import "../admin.css";
import { LoginForm } from "../components/login-form";

export const metadata = { title: "Statehouse admin — log in" };

export default function LoginPage() {
  return (
    <div className="sh-admin">
      <header>
        <span className="brand">Statehouse</span>
      </header>
      <main>
        <section className="card" style={{ maxWidth: 480, margin: "3rem auto" }}>
          <h1>Log in</h1>
          <p className="muted">Use an API key with the admin scope (for example STATEHOUSE_ADMIN_TOKEN).</p>
          <LoginForm />
        </section>
      </main>
    </div>
  );
}
