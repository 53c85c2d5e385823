/**
 * Strict request-body checks for the calld routes: Fastify's Ajv coerces types (`{"extension": 5}`
 * would become `"5"`) where wazo-calld answers 400, so these routes check their bodies with a
 * hand-written function and report each failed constraint in the shape Ajv does, which
 * `validationDetails` renders into the `invalid-data` details.
 */

/** One failed constraint, in the shape Ajv reports (rendered by `validationDetails`). */
export interface BodyIssue {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message: string;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The issue of a body that is not a JSON object at all. */
export function notAnObjectIssue(): BodyIssue {
  return {
    keyword: 'type',
    instancePath: '',
    schemaPath: '#/type',
    params: { type: 'object' },
    message: 'must be object',
  };
}

/** The issue of a required top-level property that is absent. */
export function missingPropertyIssue(name: string): BodyIssue {
  return {
    keyword: 'required',
    instancePath: '',
    schemaPath: '#/required',
    params: { missingProperty: name },
    message: `must have required property '${name}'`,
  };
}

/** A Fastify validator function running `check`: `false` with Ajv-style `errors` on issues. */
export function strictValidator(
  check: (body: unknown) => BodyIssue[],
): ((data: unknown) => boolean) & { errors?: BodyIssue[] } {
  const validate = (data: unknown): boolean => {
    const issues = check(data);
    validate.errors = issues;
    return issues.length === 0;
  };
  validate.errors = [] as BodyIssue[];
  return validate;
}
