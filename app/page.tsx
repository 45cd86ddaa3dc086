export default function Home() {
  return (
    <main style={{ maxWidth: 720, margin: "3rem auto", padding: "0 1rem" }}>
      <h1>Statehouse</h1>
      <p>Versioned, tiered, observable state for AI agents.</p>
      <ul>
        <li>
          <a href="/api/ready">/api/ready</a> — each store and its circuit breaker
        </li>
        <li>
          <a href="/api/health">/api/health</a> — liveness
        </li>
      </ul>
    </main>
  );
}
