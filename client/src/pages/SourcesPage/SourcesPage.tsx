export function SourcesPage() {
  return (
    <section className="card">
      <h1>Sources</h1>
      <p className="muted">Coming next.</p>
    </section>
  );
}
