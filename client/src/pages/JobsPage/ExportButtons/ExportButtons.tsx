import { useMutation } from '@tanstack/react-query';
import { useApi } from '../../../api/ApiContext';
import { errorMessage } from '../../../api/errors';
import type { ExportFormat, ExportFile, JobListParams } from '../../../api/types';

/** Hands a downloaded file to the browser as a download. */
function save({ blob, fileName }: ExportFile) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  // After the click has been handled: revoking at once can cancel the download.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** "Download CSV" / "Download NDJSON": every job matching the current filters. */
export function ExportButtons({ params }: { params: JobListParams }) {
  const api = useApi();
  const { q, source, company, location, employmentType, remote, status, from, to } = params;
  const filters = { q, source, company, location, employmentType, remote, status, from, to };
  const exporting = useMutation({
    mutationFn: (format: ExportFormat) => api.exportJobs(filters, format),
    onSuccess: save,
  });
  const busy = exporting.isPending;
  return (
    <div className="export" role="group" aria-label="Export the jobs matching these filters">
      <button type="button" className="btn btn--small" disabled={busy} onClick={() => exporting.mutate('csv')}>
        {busy && exporting.variables === 'csv' ? 'Preparing CSV…' : 'Download CSV'}
      </button>
      <button type="button" className="btn btn--small" disabled={busy} onClick={() => exporting.mutate('ndjson')}>
        {busy && exporting.variables === 'ndjson' ? 'Preparing NDJSON…' : 'Download NDJSON'}
      </button>
      {exporting.error ? (
        <p className="field__error" role="alert">
          {errorMessage(exporting.error)}
        </p>
      ) : null}
    </div>
  );
}
