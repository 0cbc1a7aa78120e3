export function RunDetailPage() {
  return (
    <section className="card">
      <h1>Run</h1>
    </section>
  );
}
