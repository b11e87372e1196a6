// An in-memory PatientDirectory for tests, demos and the conformance suites.
import type { Patient, PatientDirectory } from '../ports/patient-directory.js';

export class MemoryPatientDirectory implements PatientDirectory {
  private readonly patients = new Map<string, Patient>();
  private readonly relations = new Set<string>();

  constructor(patients: readonly Patient[] = [], relations: readonly { doctorId: string; patientId: string }[] = []) {
    for (const patient of patients) this.addPatient(patient);
    for (const relation of relations) this.addRelation(relation);
  }

  addPatient(patient: Patient): this {
    this.patients.set(patient.id, { ...patient });
    return this;
  }

  setPlan(patientId: string, plan: string): this {
    const patient = this.patients.get(patientId);
    if (!patient) throw new Error(`MemoryPatientDirectory: no patient ${patientId}`);
    patient.plan = plan;
    return this;
  }

  addRelation(relation: { doctorId: string; patientId: string }): this {
    this.relations.add(`${relation.doctorId}\u0000${relation.patientId}`);
    return this;
  }

  async getPatient(patientId: string): Promise<Patient | null> {
    const patient = this.patients.get(patientId);
    return patient ? { ...patient } : null;
  }

  async hasRelation(args: { doctorId: string; patientId: string }): Promise<boolean> {
    return this.relations.has(`${args.doctorId}\u0000${args.patientId}`);
  }
}
