export function OverviewPage() {
  return (
    <section className="card">
      <h1>Overview</h1>
      <p className="muted">Coming next.</p>
    </section>
  );
}
