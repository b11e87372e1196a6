// Plugins a host registers with mongoose.plugin() or connection.plugin(), as careslot meets them in the wild.
import type mongoose from 'mongoose';

/** A multi-tenant host's plugin: every schema gets a required `tenantId`. */
export function requiredTenantPlugin(schema: mongoose.Schema): void {
  schema.add({ tenantId: { type: String, required: true } });
}

/** One read a uniqueness plugin sent: which model, what filter, and whether it carried a session. */
export interface PluginRead {
  model: string;
  filter: Record<string, unknown>;
  session: boolean;
}

/**
 * What mongoose-unique-validator does (written here rather than installed: careslot's
 * package.json and lock file are mid-edit by another change, and this is the behaviour that
 * matters): for every unique index of the schema, each of its paths gets an async validator
 * that counts documents holding the same values for all the index's paths, through the model,
 * with no session and ignoring the index's partialFilterExpression, and fails when the count is
 * not 0. `reads` records each count.
 */
export function uniqueValidatorPlugin(reads: PluginRead[]): (schema: mongoose.Schema) => void {
  return (schema) => {
    for (const [fields, options] of schema.indexes()) {
      if (!(options as { unique?: unknown }).unique) continue;
      const paths = Object.keys(fields);
      for (const path of paths) {
        const type = schema.path(path);
        if (!type) continue;
        type.validate({
          validator: async function (this: unknown) {
            const doc = this as mongoose.Document;
            const conditions: Record<string, unknown>[] = paths.map((p) => ({ [p]: doc.get(p) }));
            if (!doc.isNew) conditions.push({ _id: { $ne: doc._id } });
            const model = doc.constructor as mongoose.Model<unknown>;
            const filter = { $and: conditions };
            const query = model.countDocuments(filter);
            reads.push({ model: model.modelName, filter, session: query.getOptions().session != null });
            return (await query.exec()) === 0;
          },
          message: 'Error, expected `{PATH}` to be unique. Value: `{VALUE}`',
          type: 'unique',
        });
      }
    }
  };
}
