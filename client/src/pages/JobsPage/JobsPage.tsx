export function JobsPage() {
  return (
    <section className="card">
      <h1>Jobs</h1>
      <p className="muted">Coming next.</p>
    </section>
  );
}
