import { describe, expect, it } from 'vitest';
import openapi from '../../../docs/openapi.json';
import { QUERY_PARAMS } from './client';
import { CONTRACT, RUN_STATUS_VALUES, type FieldSpec, type ObjectSpec } from './contract';
import { EMPLOYMENT_TYPES, RUN_SORTS, RUN_STATUSES } from './types';

/** The slice of JSON Schema the daemon's document uses. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
}

interface Parameter {
  name: string;
  in: string;
  schema?: Schema;
}

const doc = openapi as unknown as {
  components: { schemas: Record<string, Schema> };
  paths: Record<string, { get?: { parameters?: Parameter[] } }>;
};

/** Follows `$ref`, merges `allOf`, and turns `oneOf [X, null]` into X with "null" in its types. */
function resolve(s: Schema): Schema {
  if (s.$ref) {
    const name = s.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (!target) throw new Error(`dangling $ref ${s.$ref}`);
    return resolve(target);
  }
  if (s.allOf) {
    const parts = s.allOf.map(resolve);
    return { type: 'object', properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, Schema> };
  }
  if (s.oneOf) {
    const parts = s.oneOf.map(resolve);
    const nonNull = parts.filter((p) => p.type !== 'null');
    const hasNull = nonNull.length < parts.length;
    const [only] = nonNull;
    if (nonNull.length === 1 && only) return { ...only, type: [...types(only), ...(hasNull ? ['null'] : [])] };
    return {};
  }
  return s;
}

function types(s: Schema): string[] {
  if (s.type === undefined) return [];
  return Array.isArray(s.type) ? s.type : [s.type];
}

/** Every mismatch between what the client expects and the schema, as readable lines. */
function compare(path: string, spec: ObjectSpec, schema: Schema): string[] {
  const props = resolve(schema).properties ?? {};
  const out: string[] = [];
  for (const [name, field] of Object.entries(spec)) {
    const at = `${path}.${name}`;
    const prop = props[name];
    if (field.undocumented) {
      if (prop) out.push(`${at}: now documented; drop its \`undocumented\` mark`);
      else if (!field.defaulted) out.push(`${at}: an undocumented field must have a default in normalize.ts`);
      continue;
    }
    if (!prop) {
      out.push(`${at}: the client reads it but the schema has no such field`);
      continue;
    }
    out.push(...compareField(at, field, resolve(prop)));
  }
  return out;
}

function compareField(at: string, field: FieldSpec, prop: Schema): string[] {
  const out: string[] = [];
  const t = types(prop);
  // A schema without a type (`{}`) allows any JSON value.
  if (t.length > 0) {
    const base = t.filter((x) => x !== 'null');
    const ok = base.includes(field.type) || (field.type === 'number' && base.includes('integer'));
    if (!ok) out.push(`${at}: client expects ${field.type}, schema says ${t.join('|')}`);
    if (t.includes('null') && !field.nullable && !field.defaulted) out.push(`${at}: schema allows null, the client does not handle it`);
  }
  if (field.enum) {
    if (!prop.enum) out.push(`${at}: client expects the values ${field.enum.join(', ')}, schema has no enum`);
    else if ([...prop.enum].sort().join() !== [...field.enum].sort().join()) {
      out.push(`${at}: client knows ${field.enum.join(', ')}, schema lists ${prop.enum.join(', ')}`);
    }
  }
  if (field.items) {
    if (!prop.items) out.push(`${at}: schema does not describe the array items`);
    else out.push(...compare(`${at}[]`, field.items, prop.items));
  }
  if (field.fields) out.push(...compare(at, field.fields, prop));
  if (field.type === 'object' && !field.unpinned && !field.fields) out.push(`${at}: describe the fields the client reads`);
  return out;
}

describe('the client against docs/openapi.json', () => {
  for (const [name, spec] of Object.entries(CONTRACT)) {
    it(`reads ${name} as the daemon documents it`, () => {
      const schema = doc.components.schemas[name];
      expect(schema, `schema ${name}`).toBeDefined();
      expect(compare(name, spec, schema ?? {})).toEqual([]);
    });
  }

  it('sends only query parameters the daemon documents', () => {
    const problems: string[] = [];
    for (const [path, names] of Object.entries(QUERY_PARAMS)) {
      const params = doc.paths[path]?.get?.parameters;
      if (!params) {
        problems.push(`${path}: not in the document`);
        continue;
      }
      const documented = new Set(params.filter((p) => p.in === 'query').map((p) => p.name));
      for (const n of names) if (!documented.has(n)) problems.push(`${path}?${n}: not documented`);
    }
    expect(problems).toEqual([]);
  });

  it('offers the filter values the daemon accepts', () => {
    const param = (path: string, name: string) => doc.paths[path]?.get?.parameters?.find((p) => p.name === name)?.schema?.enum;
    expect([...RUN_STATUSES].sort()).toEqual([...RUN_STATUS_VALUES].sort());
    expect(param('/api/import-logs', 'status')?.sort()).toEqual([...RUN_STATUSES].sort());
    expect(param('/api/import-logs', 'sort')?.sort()).toEqual([...RUN_SORTS].sort());
    expect(param('/api/jobs', 'employmentType')?.sort()).toEqual([...EMPLOYMENT_TYPES].sort());
    expect(param('/api/jobs', 'status')?.sort()).toEqual(['closed', 'open']);
    expect(param('/api/jobs', 'remote')?.sort()).toEqual(['false', 'true']);
  });

  it('fails when a field is renamed in the schema (the check itself works)', () => {
    const renamed: Schema = { type: 'object', properties: { failureByCode: { type: 'array' } } };
    expect(compare('X', { failuresByCode: { type: 'array' } }, renamed)).toEqual([
      'X.failuresByCode: the client reads it but the schema has no such field',
    ]);
    const asObject: Schema = { type: 'object', properties: { failuresByCode: { type: 'object' } } };
    expect(compare('X', { failuresByCode: { type: 'array' } }, asObject)).toHaveLength(1);
  });
});
