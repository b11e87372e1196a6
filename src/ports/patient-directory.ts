// The host's users, as careslot needs them: plan and doctor–patient relation.

export interface Patient {
  id: string;
  /** Shown to the doctor in notifications ("Patient X booked"). */
  name: string;
  email?: string | null;
  /** Subscription plan name, looked up in the engine's plan table (e.g. `standard`, `vise`). */
  plan: string;
}

/** Supplied by the host: careslot never owns users. */
export interface PatientDirectory {
  /** Null when the host has no such patient. */
  getPatient(patientId: string): Promise<Patient | null>;
  /** Whether the patient is already the doctor's patient (required for free VISE bookings). */
  hasRelation(args: { doctorId: string; patientId: string }): Promise<boolean>;
}
